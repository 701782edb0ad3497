// SwiGLU clamp by hand: up clamped on both sides, gate from above only, weight applied last.
// The backward against a double-precision reference (itself against finite differences), and
// the clamps' derivative by hand: 0 where clamped, 1 at exactly ±limit.
#include <dsv4/kernels/swiglu.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(Swiglu, ClampAndWeightByHand) {
    float gate[5] = {12.0f, -30.0f, 1.0f, 0.5f, 3.0f};
    const float up[5] = {1.0f, 1.0f, 15.0f, -11.0f, 2.0f};
    dsv4::kernels::swiglu(gate, up, 5, 10.0f, 0.5f);
    auto silu = [](double g) { return g / (1 + std::exp(-g)); };
    EXPECT_NEAR(gate[0], 0.5 * silu(10.0) * 1.0, 1e-6);     // gate clamped to 10
    EXPECT_NEAR(gate[1], 0.5 * silu(-30.0) * 1.0, 1e-9);    // no lower clamp on gate
    EXPECT_NEAR(gate[2], 0.5 * silu(1.0) * 10.0, 1e-6);     // up clamped to 10
    EXPECT_NEAR(gate[3], 0.5 * silu(0.5) * -10.0, 1e-6);    // up clamped to -10
    EXPECT_NEAR(gate[4], 0.5 * silu(3.0) * 2.0, 1e-6);
    float g2[1] = {12.0f};
    const float u2[1] = {15.0f};
    dsv4::kernels::swiglu(g2, u2, 1, 0.0f, 1.0f);  // limit 0: no clamp (initial shared expert)
    EXPECT_NEAR(g2[0], silu(12.0) * 15.0, 1e-4);
}

// ---- backward ----------------------------------------------------------------------------

namespace {

double silu_d(double a) { return a / (1 + std::exp(-a)); }

// h = weight · silu(min(g, L)) · clamp(u, −L, L) in double; p = [g (n), u (n), weight].
std::vector<double> swiglu_ref(const std::vector<double>& p, size_t n, double L) {
    std::vector<double> h(n);
    for (size_t i = 0; i < n; ++i) {
        const double g = L > 0 ? std::min(p[i], L) : p[i], u = L > 0 ? std::clamp(p[n + i], -L, L) : p[n + i];
        h[i] = p[2 * n] * silu_d(g) * u;
    }
    return h;
}

// The backward in double: [dg (n), du (n), dweight]; the clamps pass gradient on [−L, L].
std::vector<double> swiglu_backward_ref(const std::vector<double>& p, const std::vector<double>& dh, size_t n, double L) {
    std::vector<double> d(2 * n + 1);
    for (size_t i = 0; i < n; ++i) {
        const bool gp = L <= 0 || p[i] <= L, up = L <= 0 || (p[n + i] >= -L && p[n + i] <= L);
        const double g = L > 0 ? std::min(p[i], L) : p[i], u = L > 0 ? std::clamp(p[n + i], -L, L) : p[n + i];
        const double s = 1 / (1 + std::exp(-g));
        d[i] = gp ? dh[i] * p[2 * n] * u * s * (1 + g * (1 - s)) : 0.0;
        d[n + i] = up ? dh[i] * p[2 * n] * silu_d(g) : 0.0;
        d[2 * n] += dh[i] * silu_d(g) * u;
    }
    return d;
}

}  // namespace

TEST(SwigluBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    for (float limit : {3.0f, 0.0f})
        for (size_t n : {size_t(1), size_t(7), size_t(64), size_t(300)}) {
            // g, u in [−6, 6]: about half the elements clamped; none within 1e-3 of ±limit, where
            // the differences would straddle the kink
            auto g = dsv4::testing::random_floats(n, 60 + n, 6.0f), u = dsv4::testing::random_floats(n, 61 + n, 6.0f);
            for (auto* v : {&g, &u})
                for (auto& x : *v)
                    if (std::fabs(std::fabs(x) - limit) < 1e-3f) x += 0.01f;
            const auto dh = dsv4::testing::random_floats(n, 62 + n);
            const float weight = 0.7f;
            std::vector<double> p(2 * n + 1);
            for (size_t i = 0; i < n; ++i) p[i] = g[i], p[n + i] = u[i];
            p[2 * n] = weight;
            const auto dhd = dsv4::testing::to_double(dh);
            const auto ref = swiglu_backward_ref(p, dhd, n, limit);
            const auto fd = dsv4::testing::vjp_by_differences([&](const std::vector<double>& v) { return swiglu_ref(v, n, limit); },
                                                              p, dhd);
            ASSERT_TRUE(errors.reference(ref, fd)) << "n=" << n << " limit=" << limit;

            std::vector<float> dg(n), du(n);
            const float dweight = dsv4::kernels::swiglu_backward(g.data(), u.data(), dh.data(), n, limit, weight, dg.data(), du.data());
            std::vector<double> got(2 * n + 1);
            for (size_t i = 0; i < n; ++i) got[i] = dg[i], got[n + i] = du[i];
            got[2 * n] = dweight;
            ASSERT_TRUE(errors.kernel(got, ref)) << "n=" << n << " limit=" << limit;
            ASSERT_TRUE(errors.kernel(std::vector<double>{dweight}, std::vector<double>{ref[2 * n]})) << "n=" << n;
        }
}

TEST(SwigluBackward, ClampedElementsPassNoGradientAndTiesPassIt) {
    const float L = 10.0f, w = 0.5f;
    //                  g > L   g = L   g < −L  u > L   u = L   u = −L  u < −L
    const float g[7] = {12.0f, 10.0f, -30.0f, 1.0f, 1.0f, 2.0f, 0.5f};
    const float u[7] = {1.0f, 2.0f, 1.0f, 15.0f, 10.0f, -10.0f, -11.0f};
    const float dh[7] = {1, 1, 1, 1, 1, 1, 1};
    float dg[7], du[7];
    const float dweight = dsv4::kernels::swiglu_backward(g, u, dh, 7, L, w, dg, du);
    auto silu = [](double a) { return a / (1 + std::exp(-a)); };
    auto dsilu = [](double a) { const double s = 1 / (1 + std::exp(-a)); return s * (1 + a * (1 - s)); };
    EXPECT_EQ(dg[0], 0.0f);                                 // gate clamped from above: no gradient
    EXPECT_NEAR(du[0], w * silu(10.0), 1e-5);               // the up still sees silu(L)
    EXPECT_NEAR(dg[1], w * 2.0 * dsilu(10.0), 1e-6);        // g = L: derivative 1
    EXPECT_NEAR(dg[2], w * 1.0 * dsilu(-30.0), 1e-12);      // no lower clamp on the gate
    EXPECT_EQ(du[3], 0.0f);                                 // up clamped above
    EXPECT_NEAR(dg[3], w * 10.0 * dsilu(1.0), 1e-5);        // the gate sees the clamped up
    EXPECT_NEAR(du[4], w * silu(1.0), 1e-6);                // u = L: derivative 1
    EXPECT_NEAR(du[5], w * silu(2.0), 1e-6);                // u = −L: derivative 1
    EXPECT_EQ(du[6], 0.0f);                                 // up clamped below
    double expect = 0;
    for (int i = 0; i < 7; ++i) expect += silu(std::min(double(g[i]), 10.0)) * std::clamp(double(u[i]), -10.0, 10.0);
    EXPECT_NEAR(dweight, expect, 1e-5 * std::fabs(expect));
}
