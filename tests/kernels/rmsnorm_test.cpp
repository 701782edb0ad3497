// RMSNorm with and without weight against a double-precision scalar version; its backward
// against a double-precision reference, and the reference against finite differences.
#include <dsv4/kernels/rmsnorm.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(RmsNorm, MatchesScalarEveryLength) {
    dsv4::testing::for_each_length_and_misalignment([](size_t n, size_t off) {
        if (n == 0) return;
        auto x = dsv4::testing::random_floats(n + off, 3, 4.0f), w = dsv4::testing::random_floats(n + off, 4);
        double ms = 0;
        for (size_t i = 0; i < n; ++i) ms += double(x[off + i]) * x[off + i];
        const double r = 1.0 / std::sqrt(ms / double(n) + 1e-6);
        std::vector<float> y(n + off), y0(n + off);
        dsv4::kernels::rmsnorm(x.data() + off, w.data() + off, y.data() + off, n, 1e-6f);
        dsv4::kernels::rmsnorm(x.data() + off, nullptr, y0.data() + off, n, 1e-6f);
        for (size_t i = 0; i < n; ++i) {
            ASSERT_NEAR(y[off + i], w[off + i] * x[off + i] * r, 1e-5) << n;
            ASSERT_NEAR(y0[off + i], x[off + i] * r, 1e-5) << n;
        }
    });
}

TEST(RmsNorm, InPlaceAndHandCase) {
    std::vector<float> x = {3.0f, 4.0f};  // mean square 12.5
    dsv4::kernels::rmsnorm(x.data(), nullptr, x.data(), 2, 0.0f);
    EXPECT_NEAR(x[0], 3.0 / std::sqrt(12.5), 1e-6);
    EXPECT_NEAR(x[1], 4.0 / std::sqrt(12.5), 1e-6);
}

// ---- backward ----------------------------------------------------------------------------

namespace {

// y = w ⊙ x · r in double; wx = [x (n), w (n)] (w absent: weightless).
std::vector<double> rmsnorm_ref(const std::vector<double>& wx, size_t n, bool weighted, double eps) {
    double ms = 0;
    for (size_t k = 0; k < n; ++k) ms += wx[k] * wx[k];
    const double r = 1.0 / std::sqrt(ms / double(n) + eps);
    std::vector<double> y(n);
    for (size_t k = 0; k < n; ++k) y[k] = (weighted ? wx[n + k] : 1.0) * wx[k] * r;
    return y;
}

// The backward in double: [dx (n), dw (n)] (dw only when weighted).
std::vector<double> rmsnorm_backward_ref(const std::vector<double>& wx, const std::vector<double>& dy, size_t n,
                                         bool weighted, double eps) {
    double ms = 0;
    for (size_t k = 0; k < n; ++k) ms += wx[k] * wx[k];
    const double r = 1.0 / std::sqrt(ms / double(n) + eps);
    double gx = 0;
    for (size_t k = 0; k < n; ++k) gx += (weighted ? wx[n + k] : 1.0) * dy[k] * wx[k];
    std::vector<double> g(weighted ? 2 * n : n);
    for (size_t k = 0; k < n; ++k) {
        g[k] = r * (weighted ? wx[n + k] : 1.0) * dy[k] - wx[k] * r * r * r * gx / double(n);
        if (weighted) g[n + k] = dy[k] * wx[k] * r;
    }
    return g;
}

}  // namespace

TEST(RmsNormBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    const float eps = 1e-6f;
    dsv4::testing::for_each_length_and_misalignment([&](size_t n, size_t off) {
        if (n == 0) return;
        auto x = dsv4::testing::random_floats(n + off, 30 + n, 4.0f), w = dsv4::testing::random_floats(n + off, 31 + n);
        auto dy = dsv4::testing::random_floats(n + off, 32 + n);
        for (bool weighted : {true, false}) {
            // n = 1 weightless: y = x / sqrt(x² + eps) is ±1 but for eps; its gradient, ~eps/|x|³,
            // is the difference of two terms ~1/|x| that f32 (and the differences) cannot resolve
            if (n == 1 && !weighted) continue;
            std::vector<double> wx(weighted ? 2 * n : n), dyd(n);
            for (size_t k = 0; k < n; ++k) {
                wx[k] = x[off + k];
                if (weighted) wx[n + k] = w[off + k];
                dyd[k] = dy[off + k];
            }
            const auto ref = rmsnorm_backward_ref(wx, dyd, n, weighted, eps);
            const auto fd = dsv4::testing::vjp_by_differences(
                [&](const std::vector<double>& v) { return rmsnorm_ref(v, n, weighted, eps); }, wx, dyd);
            ASSERT_TRUE(errors.reference(ref, fd)) << "n=" << n << " weighted=" << weighted;

            std::vector<float> dx(n + off), dw(n + off, 0.25f);  // dw accumulates onto 0.25
            dsv4::kernels::rmsnorm_backward(x.data() + off, weighted ? w.data() + off : nullptr, dy.data() + off,
                                            dx.data() + off, weighted ? dw.data() + off : nullptr, n, eps);
            std::vector<double> got(ref.size());
            for (size_t k = 0; k < n; ++k) {
                got[k] = dx[off + k];
                if (weighted) got[n + k] = double(dw[off + k]) - 0.25;
            }
            ASSERT_TRUE(errors.kernel(got, ref)) << "n=" << n << " weighted=" << weighted;
        }
    });
}

TEST(RmsNormBackward, DxMayAliasDy) {
    const size_t n = 37;
    const auto x = dsv4::testing::random_floats(n, 40, 2.0f), w = dsv4::testing::random_floats(n, 41);
    const auto dy = dsv4::testing::random_floats(n, 42);
    std::vector<float> dx(n), dw(n, 0.0f), dw2(n, 0.0f), inplace = dy;
    dsv4::kernels::rmsnorm_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), n, 1e-6f);
    dsv4::kernels::rmsnorm_backward(x.data(), w.data(), inplace.data(), inplace.data(), dw2.data(), n, 1e-6f);
    for (size_t k = 0; k < n; ++k) {
        ASSERT_EQ(inplace[k], dx[k]) << k;
        ASSERT_EQ(dw2[k], dw[k]) << k;
    }
}

TEST(RmsNormBackward, TheComparisonRejectsAWrongGradient) {
    // The checks above can fail: r·g alone (the projection term forgotten) is far off, a
    // 1e-4 error in one entry is caught, and a NaN never passes.
    const size_t n = 24;
    const auto x = dsv4::testing::random_floats(n, 43, 2.0f), dy = dsv4::testing::random_floats(n, 44);
    std::vector<float> dx(n);
    dsv4::kernels::rmsnorm_backward(x.data(), nullptr, dy.data(), dx.data(), nullptr, n, 1e-6f);
    const auto ref = rmsnorm_backward_ref(dsv4::testing::to_double(x), dsv4::testing::to_double(dy), n, false, 1e-6);
    EXPECT_TRUE(dsv4::testing::gradient_near(dx, ref, 1e-5));
    const float r = dsv4::kernels::rms_inverse(x.data(), n, 1e-6f);
    std::vector<double> wrong(n);
    for (size_t k = 0; k < n; ++k) wrong[k] = r * dy[k];
    EXPECT_FALSE(dsv4::testing::gradient_near(wrong, ref, 1e-5));
    auto nudged = dsv4::testing::to_double(dx);
    nudged[5] += 1e-4 * std::fabs(*std::max_element(ref.begin(), ref.end(), [](double a, double b) { return std::fabs(a) < std::fabs(b); }));
    EXPECT_FALSE(dsv4::testing::gradient_near(nudged, ref, 1e-5));
    nudged[5] = NAN;
    EXPECT_FALSE(dsv4::testing::gradient_near(nudged, ref, 1e-5));
    EXPECT_FALSE(dsv4::testing::gradient_near(std::vector<double>(n - 1), ref, 1e-5));  // sizes differ
}
