// mHC split: pre/post by formula; comb is doubly stochastic after enough iterations and
// matches a double-precision Sinkhorn of the same schedule.
#include <dsv4/kernels/sinkhorn.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.hpp"

TEST(Sinkhorn, MatchesDoublePrecisionSchedule) {
    for (int hc : {1, 3, 4}) {
        const int mix = (2 + hc) * hc;
        auto logits = dsv4::testing::random_floats(size_t(mix), 21, 2.0f), base = dsv4::testing::random_floats(size_t(mix), 22);
        const float scale[3] = {0.7f, 1.3f, 0.9f};
        std::vector<float> pre(static_cast<size_t>(hc)), post(static_cast<size_t>(hc)), comb(static_cast<size_t>(hc * hc));
        dsv4::kernels::hc_split_sinkhorn(logits.data(), scale, base.data(), hc, 20, 1e-6f, pre.data(), post.data(), comb.data());
        for (int j = 0; j < hc; ++j) {
            EXPECT_NEAR(pre[size_t(j)], 1 / (1 + std::exp(-(logits[size_t(j)] * 0.7 + base[size_t(j)]))) + 1e-6, 1e-6);
            EXPECT_NEAR(post[size_t(j)], 2 / (1 + std::exp(-(logits[size_t(hc + j)] * 1.3 + base[size_t(hc + j)]))), 1e-6);
        }
        std::vector<double> c(size_t(hc * hc));
        for (int j = 0; j < hc; ++j) {
            double m = -1e300, s = 0;
            for (int k = 0; k < hc; ++k) m = std::max(m, double(logits[size_t(2 * hc + j * hc + k)]) * 0.9 + base[size_t(2 * hc + j * hc + k)]);
            for (int k = 0; k < hc; ++k)
                s += c[size_t(j * hc + k)] = std::exp(double(logits[size_t(2 * hc + j * hc + k)]) * 0.9 + base[size_t(2 * hc + j * hc + k)] - m);
            for (int k = 0; k < hc; ++k) c[size_t(j * hc + k)] = c[size_t(j * hc + k)] / s + 1e-6;
        }
        auto cols = [&] {
            for (int k = 0; k < hc; ++k) {
                double s = 0;
                for (int j = 0; j < hc; ++j) s += c[size_t(j * hc + k)];
                for (int j = 0; j < hc; ++j) c[size_t(j * hc + k)] /= s + 1e-6;
            }
        };
        cols();
        for (int it = 1; it < 20; ++it) {
            for (int j = 0; j < hc; ++j) {
                double s = 0;
                for (int k = 0; k < hc; ++k) s += c[size_t(j * hc + k)];
                for (int k = 0; k < hc; ++k) c[size_t(j * hc + k)] /= s + 1e-6;
            }
            cols();
        }
        for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(comb[i], c[i], 1e-5) << hc;
        for (int k = 0; k < hc; ++k) {  // the last step normalised columns
            double s = 0;
            for (int j = 0; j < hc; ++j) s += comb[size_t(j * hc + k)];
            EXPECT_NEAR(s, 1.0, 1e-5);
        }
    }
}
