// linear_rows against the plain scalar reference (independent scalar decoding, double
// accumulation) for every weight format, M on both paths (GEMV <= 4, packed GEMM > 4),
// every K from 1 to 2 vector widths + 1 (and FP4's multiples of 32), odd N, misaligned
// activations, partial FP8 scale tiles, and split output ranges (as threads split them).
#include <dsv4/kernels/linear.hpp>

#include "kernel_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

using dsv4::weight_format;
using dsv4::kernels::linear_weight;

using dsv4::testing::make_matrix;

void check(weight_format f, size_t M, size_t N, size_t K, size_t misalign, std::mt19937_64& rng) {
    auto m = make_matrix(f, N, K, rng);
    std::vector<float> xbuf(M * K + misalign);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : xbuf) v = u(rng);
    const float* x = xbuf.data() + misalign;
    std::vector<float> xr(x, x + M * K), ref(M * N), got(M * N, NAN), scratch(K + 1);
    dsv4::kernels::linear_reference(xr.data(), M, m.w, ref.data());
    // split the rows in two ranges, as two threads would
    const size_t mid = N / 2;
    dsv4::kernels::linear_rows(x, K, M, m.w, 0, mid, got.data(), N, scratch.data());
    dsv4::kernels::linear_rows(x, K, M, m.w, mid, N, got.data() + mid, N, scratch.data());
    for (size_t i = 0; i < M * N; ++i) {
        // |error| bound: f32 accumulation of K products of magnitude <= max|w|
        double wmax = 0;
        std::vector<float> row(K);
        const float* r = dsv4::kernels::weight_row(m.w, i % N, row.data());
        for (size_t k = 0; k < K; ++k) wmax = std::max(wmax, double(std::fabs(r[k])));
        ASSERT_NEAR(got[i], ref[i], 1e-6 * double(K + 1) * wmax + 1e-30)
            << dsv4::to_string(f) << " M=" << M << " N=" << N << " K=" << K << " misalign=" << misalign << " at " << i;
    }
}

TEST(Linear, AllFormatsAllSmallLengthsBothPaths) {
    std::mt19937_64 rng(42);
    const size_t V = dsv4::kernels::vsize;
    for (auto f : {weight_format::f32, weight_format::bf16, weight_format::fp8_e4m3})
        for (size_t K = 1; K <= 2 * V + 1; ++K)
            for (size_t M : {1, 2, 3, 4, 5, 9})
                for (size_t misalign : {0, 1, 3}) check(f, M, 7, K, misalign, rng);
    for (size_t K : {32, 64, 96, 128, 160, 256, 288, 384})
        for (size_t M : {1, 2, 3, 4, 5, 9})
            for (size_t misalign : {0, 1, 3}) check(weight_format::fp4_e2m1, M, 7, K, misalign, rng);
}

TEST(Linear, LargerShapesWithPartialTilesAndPanels) {
    std::mt19937_64 rng(7);
    for (auto f : {weight_format::f32, weight_format::bf16, weight_format::fp8_e4m3, weight_format::fp4_e2m1})
        for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{
                 {1, 300, 320}, {4, 131, 288}, {17, 70, 544}, {33, 129, 800}, {1, 37, 1024}, {1, 130, 384}})
            check(f, M, N, K, 1, rng);
}

TEST(Linear, ByteCountsOfStoredFormats) {
    linear_weight w{weight_format::fp8_e4m3, nullptr, nullptr, 300, 200, 2};
    EXPECT_EQ(w.bytes(), 300u * 200 + 3 * 2);
    w = {weight_format::fp4_e2m1, nullptr, nullptr, 64, 128, 4};
    EXPECT_EQ(w.bytes(), 64u * 64 + 64 * 4);
}

}  // namespace

// Row grouping inside the decode kernel must not change a bit: every split of the rows
// (as threads would split them) gives the same outputs as one call.
TEST(Linear, DecodeResultsIndependentOfRowSplit) {
    std::mt19937_64 rng(99);
    for (auto f : {weight_format::fp8_e4m3, weight_format::fp4_e2m1, weight_format::bf16})
        for (size_t K : {256, 384, 8192}) {
            auto m = make_matrix(f, 37, K, rng);
            std::uniform_real_distribution<float> u(-1.0f, 1.0f);
            std::vector<float> x(K), whole(37), split(37), scratch(K);
            for (auto& v : x) v = u(rng);
            dsv4::kernels::linear_rows(x.data(), K, 1, m.w, 0, 37, whole.data(), 37, scratch.data());
            for (size_t a : {1, 2, 3, 5, 13}) {
                dsv4::kernels::linear_rows(x.data(), K, 1, m.w, 0, a, split.data(), 37, scratch.data());
                dsv4::kernels::linear_rows(x.data(), K, 1, m.w, a, 37, split.data() + a, 37, scratch.data());
                ASSERT_EQ(split, whole) << dsv4::to_string(f) << " K=" << K << " split at " << a;
            }
        }
}

// Decode rows of FP8/FP4 weights (bf16 dot-product kernels on an exact three-part split of x
// where the build has AVX512-BF16) keep the float path's handling of non-finite inputs: an
// infinity times a nonzero weight gives that signed infinity, times a zero weight NaN; NaN
// gives NaN. Compared with the M = 2 float kernel on the same rows.
TEST(Linear, DecodeNonFiniteInputsLikeTheFloatPath) {
    std::mt19937_64 rng(5);
    for (auto f : {weight_format::fp8_e4m3, weight_format::fp4_e2m1})
        for (float bad : {INFINITY, -INFINITY, NAN}) {
            const size_t N = 9, K = 256;
            auto m = make_matrix(f, N, K, rng);
            std::vector<float> x(2 * K), one(N), two(2 * N), scratch(K);
            std::uniform_real_distribution<float> u(-1.0f, 1.0f);
            for (size_t k = 0; k < K; ++k) x[k] = x[K + k] = u(rng);
            x[77] = x[K + 77] = bad;
            dsv4::kernels::linear_rows(x.data(), K, 1, m.w, 0, N, one.data(), N, scratch.data());
            dsv4::kernels::linear_rows(x.data(), K, 2, m.w, 0, N, two.data(), N, scratch.data());
            for (size_t n = 0; n < N; ++n) {
                if (std::isnan(two[n])) {
                    EXPECT_TRUE(std::isnan(one[n])) << dsv4::to_string(f) << " n=" << n;
                } else {
                    EXPECT_EQ(one[n], two[n]) << dsv4::to_string(f) << " n=" << n;  // ±inf
                }
            }
        }
}
