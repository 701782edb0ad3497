// RMSNorm with and without weight against a double-precision scalar version.
#include <dsv4/kernels/rmsnorm.hpp>

#include <gtest/gtest.h>

#include <cmath>

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
