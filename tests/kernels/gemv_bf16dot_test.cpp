// Products with rounded inputs (model_options::quantize_activations) against a plain scalar
// version of the official inference's GEMMs: act_quant per 128-block, e4m3 x FP8 summed per
// 128-tile and scaled by s_act · s_w, e4m3 x FP4 per 32-block, bf16(x) x BF16; double sums.
// Both the bf16 dot-product GEMV (M = 1, K % 128 == 0) and the fallback (float kernels on the
// rounded input: M > 1, other K) must agree with it, and row splits must not change a bit.
// Without rounding (the default), decode rows of FP8/FP4 weights take the same kernels on an
// exact three-part split of x (BF16 rows the float kernel): checked against the same formula
// with x itself.
#include <dsv4/kernels/linear.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "kernel_test_util.hpp"

namespace {

using namespace dsv4;
using namespace dsv4::kernels;

// The reference formula, written out without the library's quantiser or kernels.
std::vector<double> reference_product(const std::vector<float>& x, size_t M, const linear_weight& w) {
    const size_t N = w.out, K = w.in;
    std::vector<double> y(M * N, 0.0);
    const auto* bytes = static_cast<const uint8_t*>(w.data);
    for (size_t m = 0; m < M; ++m) {
        const float* xr = x.data() + m * K;
        std::vector<double> q(K);
        std::vector<double> sa((K + 127) / 128, 1.0);
        if (w.input == input_rounding::fp8_blocks) {
            for (size_t b0 = 0; b0 < K; b0 += 128) {
                float amax = 1e-4f;
                for (size_t k = b0; k < std::min(K, b0 + 128); ++k) amax = std::max(amax, std::fabs(xr[k]));
                const float s = std::exp2(std::ceil(std::log2(double(amax * (1.0f / 448.0f)))));
                sa[b0 / 128] = s;
                for (size_t k = b0; k < std::min(K, b0 + 128); ++k) q[k] = decode_fp8_e4m3(encode_fp8_e4m3(xr[k] / s));
            }
        } else if (w.input == input_rounding::bf16) {
            for (size_t k = 0; k < K; ++k) q[k] = decode_bf16(encode_bf16(xr[k]));
        } else {
            for (size_t k = 0; k < K; ++k) q[k] = xr[k];
        }
        for (size_t n = 0; n < N; ++n) {
            double acc = 0;
            switch (w.format) {
                case weight_format::fp8_e4m3:
                    for (size_t kb = 0; kb < K; kb += 128) {
                        double tile = 0;
                        for (size_t k = kb; k < std::min(K, kb + 128); ++k) tile += q[k] * decode_fp8_e4m3(bytes[n * K + k]);
                        acc += tile * sa[kb / 128] * decode_e8m0(w.scale[(n / 128) * w.scale_cols + kb / 128]);
                    }
                    break;
                case weight_format::fp4_e2m1:
                    for (size_t kb = 0; kb < K; kb += 32) {
                        double blk = 0;
                        for (size_t k = kb; k < kb + 32; ++k) blk += q[k] * decode_fp4_e2m1(fp4_code_at(bytes + n * (K / 2), k));
                        acc += blk * sa[kb / 128] * decode_e8m0(w.scale[n * w.scale_cols + kb / 32]);
                    }
                    break;
                case weight_format::bf16:
                    for (size_t k = 0; k < K; ++k) acc += q[k] * decode_bf16(reinterpret_cast<const uint16_t*>(bytes)[n * K + k]);
                    break;
                case weight_format::f32: break;
            }
            y[m * N + n] = acc;
        }
    }
    return y;
}

void check(weight_format f, size_t M, size_t N, size_t K, std::mt19937_64& rng, bool rounded = true) {
    auto mat = dsv4::testing::make_matrix(f, N, K, rng);
    mat.w.input = rounded ? reference_input_rounding(f) : input_rounding::none;
    std::vector<float> x(M * K);
    std::uniform_real_distribution<float> u(-3.0f, 3.0f);
    for (auto& v : x) v = u(rng);
    if (K > 200) x[130] = 900.0f;  // one block with a large scale
    const auto ref = reference_product(x, M, mat.w);
    std::vector<float> got(M * N, NAN), scratch(K);
    const size_t mid = N / 2 + 1;
    linear_rows(x.data(), K, M, mat.w, 0, std::min(mid, N), got.data(), N, scratch.data());
    linear_rows(x.data(), K, M, mat.w, std::min(mid, N), N, got.data() + std::min(mid, N), N, scratch.data());
    // bound: f32 sums of K exact products, each at most max|q·w·scales|
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            std::vector<float> row(K);
            const float* wr = weight_row(mat.w, n, row.data());
            double mag = 0;
            for (size_t k = 0; k < K; ++k) mag += std::fabs(double(wr[k]) * x[m * K + k]);
            ASSERT_NEAR(got[m * N + n], ref[m * N + n], 2e-6 * mag + 1e-30)
                << to_string(f) << " M=" << M << " N=" << N << " K=" << K << " n=" << n;
        }
    if (M == 1) {
        // a row rounded once by the caller gives the same bits as rounding inside
        rounded_row pre;
        pre.prepare(x.data(), K, true, true, true, true);
        std::vector<float> again(N);
        linear_rows(x.data(), K, 1, mat.w, 0, N, again.data(), N, scratch.data(), &pre);
        ASSERT_EQ(again, got) << to_string(f) << " K=" << K;
        // and any split of the rows gives the same bits
        for (size_t a : {size_t(1), size_t(3), size_t(5)}) {
            if (a >= N) continue;
            std::vector<float> split(N);
            linear_rows(x.data(), K, 1, mat.w, 0, a, split.data(), N, scratch.data(), &pre);
            linear_rows(x.data(), K, 1, mat.w, a, N, split.data() + a, N, scratch.data(), &pre);
            ASSERT_EQ(split, got) << to_string(f) << " K=" << K << " split at " << a;
        }
    }
}

TEST(GemvBf16dot, MatchesTheReferenceFormulaOnBothPaths) {
    std::mt19937_64 rng(11);
    for (auto f : {weight_format::fp8_e4m3, weight_format::fp4_e2m1, weight_format::bf16})
        for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{
                 {1, 1, 128}, {1, 7, 256}, {1, 130, 384}, {1, 9, 1024}, {2, 9, 256}, {5, 33, 384}, {1, 6, 96}, {3, 5, 160}})
            check(f, M, N, K, rng);
}

TEST(GemvBf16dot, ExactSplitMatchesTheReferenceFormula) {
    std::mt19937_64 rng(12);
    for (auto f : {weight_format::fp8_e4m3, weight_format::fp4_e2m1, weight_format::bf16})
        for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{
                 {1, 1, 128}, {1, 7, 256}, {1, 130, 384}, {1, 9, 1024}, {1, 5, 8192}, {2, 9, 256}, {1, 6, 96}, {1, 3, 100}})
            if (f != weight_format::fp4_e2m1 || K % 32 == 0) check(f, M, N, K, rng, false);  // FP4 rows: whole 32-blocks
}

// One nonzero weight per row: y[n] = x[k] · w · scale within one unit in the last place of the
// correctly rounded product. The three exact part products are summed in f32 (two roundings
// at most); a dropped or truncated part would be off by up to 2^-8 or 2^-16 relative, far
// beyond. Also checks rows of several 128-blocks and FP4's per-32 scales, and an e8m0 NaN
// scale code (0xFF) turning that row NaN.
TEST(GemvBf16dot, SingleWeightRowsGiveTheCorrectlyRoundedProduct) {
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<float> mant(1.0f, 2.0f);
    for (auto f : {weight_format::fp8_e4m3, weight_format::fp4_e2m1})
        for (size_t K : {size_t(128), size_t(384), size_t(1024)}) {
            const size_t N = 67;
            auto mat = dsv4::testing::make_matrix(f, N, K, rng);
            std::vector<float> x(K);
            for (auto& v : x) v = std::ldexp(mant(rng), int(rng() % 41) - 20) * ((rng() & 1) ? -1.0f : 1.0f);
            std::vector<size_t> col(N);
            std::vector<float> want(N);
            for (size_t n = 0; n < N; ++n) {
                col[n] = (n * 37 + 5) % K;
                uint8_t code = 0;
                float scale = 0;
                if (f == weight_format::fp8_e4m3) {
                    for (size_t k = 0; k < K; ++k) mat.bytes[n * K + k] = 0;
                    do code = uint8_t(rng()); while ((code & 0x7F) == 0x7F || (code & 0x7F) == 0);
                    mat.bytes[n * K + col[n]] = code;
                    scale = decode_e8m0(mat.scales[(n / 128) * mat.w.scale_cols + col[n] / 128]);
                    want[n] = float(double(x[col[n]]) * double(decode_fp8_e4m3(code)) * double(scale));
                } else {
                    for (size_t k = 0; k < K / 2; ++k) mat.bytes[n * (K / 2) + k] = 0;
                    do code = uint8_t(rng() % 16); while ((code & 7) == 0);
                    mat.bytes[n * (K / 2) + col[n] / 2] = uint8_t(col[n] % 2 ? code << 4 : code);
                    scale = decode_e8m0(mat.scales[n * mat.w.scale_cols + col[n] / 32]);
                    want[n] = float(double(x[col[n]]) * double(decode_fp4_e2m1(code)) * double(scale));
                }
            }
            std::vector<float> got(N), scratch(K);
            linear_rows(x.data(), K, 1, mat.w, 0, N, got.data(), N, scratch.data());
            for (size_t n = 0; n < N; ++n) {
                const float ulp = std::nextafter(std::fabs(want[n]), INFINITY) - std::fabs(want[n]);
                ASSERT_LE(std::fabs(got[n] - want[n]), ulp) << to_string(f) << " K=" << K << " n=" << n;
            }
            if (f == weight_format::fp4_e2m1) {
                mat.scales[3 * mat.w.scale_cols + col[3] / 32] = 0xFF;  // NaN scale on row 3's block
                linear_rows(x.data(), K, 1, mat.w, 0, N, got.data(), N, scratch.data());
                EXPECT_TRUE(std::isnan(got[3])) << "K=" << K;
                EXPECT_FALSE(std::isnan(got[4]));
            }
        }
}

TEST(GemvBf16dot, AvailabilityFollowsFormatRoundingAndWidth) {
    linear_weight w;
    w.format = weight_format::f32;
    w.in = 256;
    EXPECT_FALSE(bf16dot_gemv_available(w));  // f32 weights: the float kernel
    w.format = weight_format::bf16;
    EXPECT_FALSE(bf16dot_gemv_available(w));  // bf16 weights, f32 input: the float kernel
    w.format = weight_format::fp8_e4m3;
    w.in = 96;
    EXPECT_FALSE(bf16dot_gemv_available(w));  // not whole 128-blocks
    w.input = input_rounding::fp8_blocks;
    w.in = 96;
    EXPECT_FALSE(bf16dot_gemv_available(w));  // not whole 128-blocks: float kernels on the rounded input
#if defined(DSV4_BF16DOT_GEMV)
    w.in = 256;
    EXPECT_TRUE(bf16dot_gemv_available(w));
    w.input = input_rounding::none;
    EXPECT_TRUE(bf16dot_gemv_available(w));  // exact split of f32 input
    w.format = weight_format::fp4_e2m1;
    EXPECT_TRUE(bf16dot_gemv_available(w));
    w.format = weight_format::bf16;
    w.input = input_rounding::bf16;
    EXPECT_TRUE(bf16dot_gemv_available(w));
#endif
}

}  // namespace
