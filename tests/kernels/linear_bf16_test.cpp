// The AVX512-BF16 GEMM against a double-precision reference of the same bf16-rounded inputs,
// and linear_rows sending prefill rows of BF16 weights with bf16-rounded input to it.
#include <dsv4/kernels/linear_bf16.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.hpp"

namespace {

// Σ_k bf16(x[m,k]) · W[n,k] in double: the independent reference of a product whose input
// rounding is bf16.
std::vector<double> rounded_reference(const std::vector<float>& x, const std::vector<uint16_t>& wb, size_t M, size_t N,
                                      size_t K, std::vector<double>& magnitude) {
    std::vector<double> ref(M * N);
    magnitude.assign(M * N, 0.0);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n)
            for (size_t k = 0; k < K; ++k) {
                const double p = double(dsv4::decode_bf16(dsv4::encode_bf16(x[m * K + k]))) * double(dsv4::decode_bf16(wb[n * K + k]));
                ref[m * N + n] += p;
                magnitude[m * N + n] += std::fabs(p);
            }
    return ref;
}

}  // namespace

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
        std::vector<double> magnitude;
        const auto ref = rounded_reference(xs, wb, M, N, K, magnitude);
        for (size_t i = 0; i < M * N; ++i) ASSERT_NEAR(y[i], ref[i], 1e-5 * double(K)) << M << "x" << N << "x" << K;
    }
    dsv4::kernels::linear_weight f32w{dsv4::weight_format::f32, nullptr, nullptr, 1, 1, 0};
    float x = 0, y = 0;
    EXPECT_THROW(dsv4::kernels::linear_rows_bf16_dot(&x, 1, 1, f32w, 0, 1, &y, 1), dsv4::error);
}

// Prefill rows (M > 4) of a BF16 weight whose input rounding is bf16 (quantize_activations):
// linear_rows computes bf16(x) · W, prepared once (round_once's way) or not.
TEST(LinearBf16, LinearRowsRoundsPrefillInputOfBf16Weights) {
    for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{{5, 33, 64}, {37, 70, 300}, {64, 128, 1024}}) {
        const auto xs = dsv4::testing::random_floats(M * K, 41);
        const auto wf = dsv4::testing::random_floats(N * K, 42);
        std::vector<uint16_t> wb(N * K);
        for (size_t i = 0; i < wb.size(); ++i) wb[i] = dsv4::encode_bf16(wf[i]);
        dsv4::kernels::linear_weight w{dsv4::weight_format::bf16, wb.data(), nullptr, N, K, 0};
        w.input = dsv4::kernels::input_rounding::bf16;
        std::vector<double> magnitude;
        const auto ref = rounded_reference(xs, wb, M, N, K, magnitude);

        std::vector<float> y(M * N), y_prepared(M * N), scratch(K);
        dsv4::kernels::linear_rows(xs.data(), K, M, w, 0, N, y.data(), N, scratch.data());
        dsv4::kernels::rounded_row rows;
        const dsv4::kernels::linear_weight* const ws[] = {&w};
        const bool prepared = dsv4::kernels::prepare_rows_for_bf16dot(rows, xs.data(), M, ws);
        EXPECT_EQ(prepared, dsv4::kernels::bf16dot_gemm_available(w));
        const size_t mid = N / 2;  // two row ranges, as threads split them
        dsv4::kernels::linear_rows(xs.data(), K, M, w, 0, mid, y_prepared.data(), N, scratch.data(), prepared ? &rows : nullptr);
        dsv4::kernels::linear_rows(xs.data(), K, M, w, mid, N, y_prepared.data() + mid, N, scratch.data(),
                                   prepared ? &rows : nullptr);
        for (size_t i = 0; i < M * N; ++i) {
            // products exact, f32 sums of K terms: within K ulps of the magnitude
            const double tolerance = double(K) * 0x1p-24 * magnitude[i];
            ASSERT_NEAR(y[i], ref[i], tolerance) << M << "x" << N << "x" << K << " at " << i;
            ASSERT_NEAR(y_prepared[i], ref[i], tolerance) << M << "x" << N << "x" << K << " at " << i;
        }
    }
}

// Which kernel ran, by a hand-computed case: x = 2^-130 (a bf16 subnormal) times W = 2^100.
// The bf16 dot-product GEMM treats subnormal inputs as zero (vdpbf16ps ignores MXCSR), so the
// output is exactly 0 where the build has AVX512-BF16; the float GEMM gives 2^-30. Odd rows add
// 1.5 · (n + 1), which both give exactly.
TEST(LinearBf16, PrefillOfRoundedBf16InputTakesTheDotProductKernel) {
    const size_t M = 8, N = 40, K = 32;
    std::vector<float> x(M * K, 0.0f);
    std::vector<uint16_t> wb(N * K, 0);
    for (size_t m = 0; m < M; ++m) {
        x[m * K] = 0x1p-130f;
        if (m % 2 == 1) x[m * K + 1] = 1.5f;
    }
    for (size_t n = 0; n < N; ++n) {
        wb[n * K] = dsv4::encode_bf16(0x1p100f);
        wb[n * K + 1] = dsv4::encode_bf16(float(n + 1));
    }
    ASSERT_EQ(dsv4::decode_bf16(dsv4::encode_bf16(0x1p-130f)), 0x1p-130f);  // exact as a bf16
    dsv4::kernels::linear_weight w{dsv4::weight_format::bf16, wb.data(), nullptr, N, K, 0};
    w.input = dsv4::kernels::input_rounding::bf16;
    std::vector<float> y(M * N), scratch(K);
    dsv4::kernels::linear_rows(x.data(), K, M, w, 0, N, y.data(), N, scratch.data());
#if defined(__AVX512BF16__)
    const float subnormal_term = 0.0f;
#else
    const float subnormal_term = 0x1p-30f;
#endif
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n)
            ASSERT_EQ(y[m * N + n], m % 2 == 1 ? 1.5f * float(n + 1) : subnormal_term) << m << ", " << n;
}
