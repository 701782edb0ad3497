// mHC split: pre/post by formula; comb is doubly stochastic after enough iterations and
// matches a double-precision Sinkhorn of the same schedule. The backward against a
// double-precision reverse pass through the same schedule, itself against finite differences.
#include <dsv4/kernels/sinkhorn.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../support/gradcheck.hpp"
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

// ---- backward ----------------------------------------------------------------------------

namespace {

using dmat = std::vector<double>;  // [hc][hc]

// One normalisation of the schedule in double: step t (from 1) divides each column (odd t)
// or row (even t) by its sum + eps.
dmat normalise(const dmat& x, int hc, int t, double eps) {
    dmat y = x;
    for (int l = 0; l < hc; ++l) {
        auto at = [&](int i) { return t % 2 ? size_t(i * hc + l) : size_t(l * hc + i); };
        double s = 0;
        for (int i = 0; i < hc; ++i) s += x[at(i)];
        for (int i = 0; i < hc; ++i) y[at(i)] = x[at(i)] / (s + eps);
    }
    return y;
}

int steps_of(int iters) { return 1 + 2 * std::max(iters - 1, 0); }

// hc_split_sinkhorn in double, from the logits z [(2+hc)*hc]: [pre (hc), post (hc), comb (hc*hc)].
// With `softmax`/`trace`: the row softmax and the input of every normalisation step.
std::vector<double> sinkhorn_ref(const std::vector<double>& z, int hc, int iters, double eps, dmat* softmax = nullptr,
                                 std::vector<dmat>* trace = nullptr) {
    std::vector<double> out(size_t((2 + hc) * hc));
    for (int j = 0; j < hc; ++j) {
        out[size_t(j)] = 1 / (1 + std::exp(-z[size_t(j)])) + eps;
        out[size_t(hc + j)] = 2 / (1 + std::exp(-z[size_t(hc + j)]));
    }
    dmat c(size_t(hc * hc)), p(c.size());
    for (int j = 0; j < hc; ++j) {
        double m = -INFINITY, s = 0;
        for (int k = 0; k < hc; ++k) m = std::max(m, z[size_t(2 * hc + j * hc + k)]);
        for (int k = 0; k < hc; ++k) s += p[size_t(j * hc + k)] = std::exp(z[size_t(2 * hc + j * hc + k)] - m);
        for (int k = 0; k < hc; ++k) p[size_t(j * hc + k)] /= s, c[size_t(j * hc + k)] = p[size_t(j * hc + k)] + eps;
    }
    if (softmax) *softmax = p;
    for (int t = 1; t <= steps_of(iters); ++t) {
        if (trace) trace->push_back(c);
        c = normalise(c, hc, t, eps);
    }
    std::copy(c.begin(), c.end(), out.begin() + 2 * hc);
    return out;
}

// Its backward in double, by the Jacobian of each step: for y_i = x_i / (Σ_m x_m + eps) in a
// line, ∂y_i/∂x_m = δ_im / den − x_i / den²; for the softmax ∂p_i/∂z_k = p_i (δ_ik − p_k).
std::vector<double> sinkhorn_backward_ref(const std::vector<double>& z, const std::vector<double>& dout, int hc, int iters,
                                          double eps) {
    dmat p;
    std::vector<dmat> trace;
    sinkhorn_ref(z, hc, iters, eps, &p, &trace);
    std::vector<double> dz(z.size());
    for (int j = 0; j < hc; ++j) {
        const double sp = 1 / (1 + std::exp(-z[size_t(j)])), sq = 1 / (1 + std::exp(-z[size_t(hc + j)]));
        dz[size_t(j)] = dout[size_t(j)] * sp * (1 - sp);
        dz[size_t(hc + j)] = dout[size_t(hc + j)] * 2 * sq * (1 - sq);
    }
    dmat g(dout.begin() + 2 * hc, dout.end());
    for (int t = steps_of(iters); t >= 1; --t) {
        const dmat& x = trace[size_t(t - 1)];
        dmat gx(g.size(), 0.0);
        for (int l = 0; l < hc; ++l) {
            auto at = [&](int i) { return t % 2 ? size_t(i * hc + l) : size_t(l * hc + i); };
            double den = eps;
            for (int i = 0; i < hc; ++i) den += x[at(i)];
            for (int m = 0; m < hc; ++m)
                for (int i = 0; i < hc; ++i) gx[at(m)] += g[at(i)] * ((i == m ? 1 / den : 0.0) - x[at(i)] / (den * den));
        }
        g = gx;
    }
    for (int j = 0; j < hc; ++j)
        for (int k = 0; k < hc; ++k)
            for (int i = 0; i < hc; ++i)
                dz[size_t(2 * hc + j * hc + k)] += g[size_t(j * hc + i)] * p[size_t(j * hc + i)] * ((i == k) - p[size_t(j * hc + k)]);
    return dz;
}

}  // namespace

TEST(SinkhornBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    // hc = 16 with 64 iterations takes the per-thread buffer instead of the stack
    for (auto [hc, iters] : {std::pair{4, 20}, std::pair{2, 3}, std::pair{3, 1}, std::pair{1, 5}, std::pair{16, 64}}) {
        const size_t nz = size_t((2 + hc) * hc);
        const auto mix = dsv4::testing::random_floats(nz, 70 + size_t(hc), 2.0f), base = dsv4::testing::random_floats(nz, 71);
        const auto dout = dsv4::testing::random_floats(nz, 72 + size_t(iters));  // [dpre, dpost, dcomb]
        const float scale[3] = {0.7f, 1.3f, 0.9f}, eps = 1e-6f;
        std::vector<double> z(nz);
        for (size_t i = 0; i < nz; ++i) z[i] = double(mix[i]) * scale[i < size_t(hc) ? 0 : i < size_t(2 * hc) ? 1 : 2] + base[i];
        const auto doutd = dsv4::testing::to_double(dout);
        const auto ref = sinkhorn_backward_ref(z, doutd, hc, iters, eps);
        const auto fd = dsv4::testing::vjp_by_differences(
            [&](const std::vector<double>& v) { return sinkhorn_ref(v, hc, iters, eps); }, z, doutd);
        ASSERT_TRUE(errors.reference(ref, fd)) << "hc=" << hc << " iters=" << iters;

        std::vector<float> dz(nz + 1, 123.0f);
        dsv4::kernels::hc_split_sinkhorn_backward(mix.data(), scale, base.data(), hc, iters, eps, dout.data(),
                                                  dout.data() + hc, dout.data() + 2 * hc, dz.data());
        ASSERT_EQ(dz[nz], 123.0f) << "wrote past the end";
        dz.pop_back();
        ASSERT_TRUE(errors.kernel(dz, ref)) << "hc=" << hc << " iters=" << iters;
        // each comb logit row's gradient sums to 0 (the softmax is shift-invariant)
        for (int j = 0; j < hc; ++j) {
            double s = 0, mag = 0;
            for (int k = 0; k < hc; ++k) s += dz[size_t(2 * hc + j * hc + k)], mag += std::fabs(dz[size_t(2 * hc + j * hc + k)]);
            EXPECT_LE(std::fabs(s), 1e-5 * mag + 1e-12) << "hc=" << hc << " row " << j;
        }
    }
}
