// The AVX512-BF16 GEMM against a double-precision reference of the same bf16-rounded inputs.
#include <dsv4/kernels/linear_bf16.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.hpp"

TEST(LinearBf16, MatchesReferenceOfRoundedInputs) {
    // (the last three: groups of whole panels with a partial group, ragged columns and row tiles)
    for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{{1, 5, 1}, {3, 33, 7}, {9, 40, 300}, {17, 64, 513},
                                                                          {8, 32, 256}, {12, 32, 32}, {25, 70, 260}, {13, 1, 17},
                                                                          {29, 200, 1024}, {12, 288, 64}, {5, 130, 2048}}) {
        const auto xs = dsv4::testing::random_floats(M * K, 31);
        const auto wf = dsv4::testing::random_floats(N * K, 32);
        std::vector<uint16_t> wb(N * K);
        for (size_t i = 0; i < wb.size(); ++i) wb[i] = dsv4::encode_bf16(wf[i]);
        dsv4::kernels::linear_weight w{dsv4::weight_format::bf16, wb.data(), nullptr, N, K, 0};
        std::vector<float> y(M * N), y2(M * N);
        dsv4::kernels::linear_rows_bf16_dot(xs.data(), K, M, w, 0, N, y.data(), N);
        // packed once, then two row ranges (as threads split them): the same bits
        dsv4::kernels::bf16_activations packed;
        dsv4::kernels::pack_bf16_activations(xs.data(), K, M, K, packed);
        for (size_t k = 0; k < K; ++k)
            ASSERT_EQ(reinterpret_cast<const uint16_t*>(packed.data.data())[k], dsv4::encode_bf16(xs[k])) << k;
        const size_t mid = N / 2;
        dsv4::kernels::linear_rows_bf16_dot(packed, w, 0, mid, y2.data(), N);
        dsv4::kernels::linear_rows_bf16_dot(packed, w, mid, N, y2.data() + mid, N);
        ASSERT_EQ(y2, y) << M << "x" << N << "x" << K;
        for (size_t m = 0; m < M; ++m)
            for (size_t n = 0; n < N; ++n) {
                double s = 0;
                for (size_t k = 0; k < K; ++k)
                    s += double(dsv4::decode_bf16(dsv4::encode_bf16(xs[m * K + k]))) * double(dsv4::decode_bf16(wb[n * K + k]));
                ASSERT_NEAR(y[m * N + n], s, 1e-5 * double(K)) << M << "x" << N << "x" << K;
            }
    }
    dsv4::kernels::linear_weight f32w{dsv4::weight_format::f32, nullptr, nullptr, 1, 1, 0};
    float x = 0, y = 0;
    EXPECT_THROW(dsv4::kernels::linear_rows_bf16_dot(&x, 1, 1, f32w, 0, 1, &y, 1), dsv4::error);
}
