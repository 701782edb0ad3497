// The indexer's weighted ReLU sum against a plain scalar loop (double sums), for every head
// count 0..2 vector widths + 1 and misaligned starts, several entries; NaN dots stay NaN.
// The fused scoring kernel against the scalar formula, and bit for bit against its two-step
// definition (dots from the packed GEMM kernel, then the weighted ReLU sum). The fused kernel
// exists on AVX-512 builds only; elsewhere its tests skip (callers take the two steps).
// The weighted ReLU sum's backward against a double-precision reference, itself against
// finite differences.
#include <dsv4/kernels/indexer_score.hpp>
#include <dsv4/kernels/linear.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(IndexerScore, MatchesScalarForAllHeadCountsAndAlignments) {
    dsv4::testing::for_each_length_and_misalignment([](size_t heads, size_t misalign) {
        for (size_t n : {size_t(1), size_t(3), size_t(17)}) {
            const auto buf = dsv4::testing::random_floats(heads * n + misalign, n * 31 + heads, 2.0f);
            const auto w = dsv4::testing::random_floats(heads, 7 + heads, 1.0f);
            const float* dots = buf.data() + misalign;
            std::vector<float> out(n + 1, 123.0f);
            dsv4::kernels::weighted_relu_sum(dots, n, heads, w.data(), out.data());
            for (size_t i = 0; i < n; ++i) {
                double ref = 0, mag = 0;
                for (size_t h = 0; h < heads; ++h) {
                    ref += double(w[h]) * std::max(double(dots[i * heads + h]), 0.0);
                    mag += std::fabs(double(w[h]) * dots[i * heads + h]);
                }
                ASSERT_NEAR(out[i], ref, 1e-6 * mag + 1e-30) << "n=" << n << " heads=" << heads << " i=" << i;
            }
            ASSERT_EQ(out[n], 123.0f) << "wrote past the end";
        }
    });
}

TEST(IndexerScore, HandComputedAndNaN) {
    // 3 entries x 20 heads (a vector + a tail): dots[i][h] = h - 10 + i, w[h] = 0.5
    const size_t n = 3, heads = 20;
    std::vector<float> dots(n * heads), w(heads, 0.5f), out(n);
    for (size_t i = 0; i < n; ++i)
        for (size_t h = 0; h < heads; ++h) dots[i * heads + h] = float(h) - 10.0f + float(i);
    dots[2 * heads + 4] = std::numeric_limits<float>::quiet_NaN();
    dsv4::kernels::weighted_relu_sum(dots.data(), n, heads, w.data(), out.data());
    EXPECT_EQ(out[0], 0.5f * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9));       // h = 11..19
    EXPECT_EQ(out[1], 0.5f * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10));  // h = 10..19
    EXPECT_TRUE(std::isnan(out[2]));
}

TEST(IndexerScore, FusedKernelTakesWholeVectorsOfHeadsUpTo64) {
    using dsv4::kernels::indexer_scores_available;
    if (!indexer_scores_available(16))
        GTEST_SKIP() << "the fused indexer kernel needs AVX-512F, which this build does not target "
                        "(the indexer takes linear_rows + weighted_relu_sum, both tested on every target)";
    for (size_t heads : {16, 32, 48, 64}) EXPECT_TRUE(indexer_scores_available(heads)) << heads;
    for (size_t heads : {0, 8, 20, 40, 80}) EXPECT_FALSE(indexer_scores_available(heads)) << heads;
}

TEST(IndexerScore, FusedKernelMatchesTheTwoStepsBitForBit) {
    if (!dsv4::kernels::indexer_scores_available(16))
        GTEST_SKIP() << "the fused indexer kernel needs AVX-512F, which this build does not target";
    for (size_t heads : {size_t(16), size_t(32), size_t(48), size_t(64)})
        for (size_t dim : {size_t(32), size_t(100), size_t(128)})
            for (size_t n : {size_t(5), size_t(7), size_t(13), size_t(50)}) {
                const auto keys = dsv4::testing::random_floats(n * dim, n + dim, 1.0f);
                auto q = dsv4::testing::random_floats(heads * dim, heads + dim, 1.0f);
                const auto w = dsv4::testing::random_floats(heads, heads, 1.0f);
                std::vector<float> packed(heads * dim), fused(n + 1, 123.0f), dots(n * heads), two_step(n), scratch(dim);
                dsv4::kernels::pack_indexer_query(q.data(), heads, dim, packed.data());
                dsv4::kernels::indexer_scores(keys.data(), n, dim, packed.data(), heads, w.data(), fused.data());
                dsv4::kernels::linear_weight hw{dsv4::weight_format::f32, q.data(), nullptr, heads, dim, 0};
                dsv4::kernels::linear_rows(keys.data(), dim, n, hw, 0, heads, dots.data(), heads, scratch.data());
                dsv4::kernels::weighted_relu_sum(dots.data(), n, heads, w.data(), two_step.data());
                // The GEMM kernel's xsimd::fma is a fused multiply-add when the compiler
                // contracts it (optimised builds) but a multiply then an add in instrumented
                // ones (sanitizers): bits are compared where its dots are the FMA chain.
                bool gemm_fuses = true;
                for (size_t i = 0; i < n; ++i)
                    for (size_t h = 0; h < heads; ++h) {
                        float chain = 0.0f;
                        for (size_t k = 0; k < dim; ++k) chain = std::fma(keys[i * dim + k], q[h * dim + k], chain);
                        gemm_fuses = gemm_fuses && chain == dots[i * heads + h];
                    }
                for (size_t i = 0; i < n; ++i) {
                    if (gemm_fuses) {
                        ASSERT_EQ(fused[i], two_step[i]) << "heads=" << heads << " dim=" << dim << " n=" << n << " i=" << i;
                    }
                    double ref = 0, mag = 0;
                    for (size_t h = 0; h < heads; ++h) {
                        double d = 0, dmag = 0;
                        for (size_t k = 0; k < dim; ++k) {
                            d += double(q[h * dim + k]) * keys[i * dim + k];
                            dmag += std::fabs(double(q[h * dim + k]) * keys[i * dim + k]);
                        }
                        ref += double(w[h]) * std::max(d, 0.0);
                        mag += std::fabs(double(w[h])) * dmag;
                    }
                    ASSERT_NEAR(fused[i], ref, 1e-5 * mag + 1e-30) << "heads=" << heads << " dim=" << dim << " i=" << i;
                }
                ASSERT_EQ(fused[n], 123.0f) << "wrote past the end";
            }
}

// ---- backward ----------------------------------------------------------------------------

namespace {

// weighted_relu_sum in double; p = [dots (n·heads), w (heads)].
std::vector<double> relu_sum_ref(const std::vector<double>& p, size_t n, size_t heads) {
    std::vector<double> out(n, 0.0);
    for (size_t i = 0; i < n; ++i)
        for (size_t h = 0; h < heads; ++h) out[i] += p[n * heads + h] * std::max(p[i * heads + h], 0.0);
    return out;
}

// Its backward in double: [ddots (n·heads), dw (heads)].
std::vector<double> relu_sum_backward_ref(const std::vector<double>& p, const std::vector<double>& ds, size_t n, size_t heads) {
    std::vector<double> g(n * heads + heads, 0.0);
    for (size_t i = 0; i < n; ++i)
        for (size_t h = 0; h < heads; ++h) {
            g[i * heads + h] = p[i * heads + h] > 0 ? ds[i] * p[n * heads + h] : 0.0;
            g[n * heads + h] += ds[i] * std::max(p[i * heads + h], 0.0);
        }
    return g;
}

}  // namespace

TEST(IndexerScoreBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    for (size_t heads : {size_t(1), size_t(16), size_t(20), size_t(64)})
        for (size_t n : {size_t(1), size_t(3), size_t(17)}) {
            auto dots = dsv4::testing::random_floats(n * heads, 100 + n * heads, 2.0f);
            for (auto& x : dots)  // away from ReLU's kink, where the differences would straddle it
                if (std::fabs(x) < 1e-3f) x = 0.5f;
            const auto w = dsv4::testing::random_floats(heads, 101 + heads), ds = dsv4::testing::random_floats(n, 102 + n);
            std::vector<double> p(n * heads + heads);
            for (size_t i = 0; i < n * heads; ++i) p[i] = dots[i];
            for (size_t h = 0; h < heads; ++h) p[n * heads + h] = w[h];
            const auto dsd = dsv4::testing::to_double(ds);
            const auto ref = relu_sum_backward_ref(p, dsd, n, heads);
            const auto fd = dsv4::testing::vjp_by_differences(
                [&](const std::vector<double>& v) { return relu_sum_ref(v, n, heads); }, p, dsd);
            ASSERT_TRUE(errors.reference(ref, fd)) << "heads=" << heads << " n=" << n;

            std::vector<float> ddots(n * heads + 1, 123.0f), dw(heads, -0.5f);  // dw accumulates onto −0.5
            dsv4::kernels::weighted_relu_sum_backward(dots.data(), n, heads, w.data(), ds.data(), ddots.data(), dw.data());
            ASSERT_EQ(ddots[n * heads], 123.0f) << "wrote past the end";
            std::vector<double> got(ref.size());
            for (size_t i = 0; i < n * heads; ++i) got[i] = ddots[i];
            for (size_t h = 0; h < heads; ++h) got[n * heads + h] = double(dw[h]) + 0.5;
            ASSERT_TRUE(errors.kernel(got, ref)) << "heads=" << heads << " n=" << n;
        }
}

TEST(IndexerScoreBackward, ZeroAndNaNDotsPassNoGradient) {
    const float dots[4] = {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f}, w[2] = {0.5f, 3.0f}, ds[2] = {2.0f, 1.0f};
    float ddots[4], dw[2] = {0, 0};  // dots [2][2]: entry 0 = {0, −1}, entry 1 = {NaN, 2}
    dsv4::kernels::weighted_relu_sum_backward(dots, 2, 2, w, ds, ddots, dw);
    EXPECT_EQ(ddots[0], 0.0f);  // ReLU'(0) = 0
    EXPECT_EQ(ddots[1], 0.0f);
    EXPECT_EQ(ddots[2], 0.0f);
    EXPECT_EQ(ddots[3], 1.0f * 3.0f);
    EXPECT_TRUE(std::isnan(dw[0]));  // entry 1's NaN dot (head 0) stays visible, as in the forward
    EXPECT_EQ(dw[1], 1.0f * 2.0f);
}
