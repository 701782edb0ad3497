// Fast Walsh-Hadamard against the explicit Sylvester matrix, and orthonormality; the backward
// (the transform itself) against the Jacobian's transpose.
#include <dsv4/kernels/hadamard.hpp>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(Hadamard, MatchesSylvesterMatrix) {
    for (size_t n : {1, 2, 4, 32, 128}) {
        auto x = dsv4::testing::random_floats(n, 11);
        auto y = x;
        dsv4::kernels::hadamard_inplace(y.data(), n);
        for (size_t i = 0; i < n; ++i) {
            double s = 0;
            for (size_t j = 0; j < n; ++j) s += ((std::popcount(i & j) & 1) ? -1.0 : 1.0) * x[j];
            ASSERT_NEAR(y[i], s / std::sqrt(double(n)), 1e-5) << n;
        }
        dsv4::kernels::hadamard_inplace(y.data(), n);  // H·H = I for the normalised transform
        for (size_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], x[i], 1e-5);
    }
}

// The normalised transform is symmetric and orthogonal, so its backward is itself:
// hadamard_inplace on v against H^T·v in double, H^T·v against finite differences.
TEST(HadamardBackward, IsTheTransformItself) {
    dsv4::testing::gradient_errors errors;
    for (size_t n : {1, 2, 4, 32, 128}) {
        auto H = [n](size_t i, size_t j) { return ((std::popcount(i & j) & 1) ? -1.0 : 1.0) / std::sqrt(double(n)); };
        auto forward = [&](const std::vector<double>& x) {
            std::vector<double> y(n, 0.0);
            for (size_t i = 0; i < n; ++i)
                for (size_t j = 0; j < n; ++j) y[i] += H(i, j) * x[j];
            return y;
        };
        const auto x = dsv4::testing::to_double(dsv4::testing::random_floats(n, 150));
        const auto v = dsv4::testing::random_floats(n, 151);
        std::vector<double> ref(n, 0.0);  // H^T v
        for (size_t j = 0; j < n; ++j)
            for (size_t i = 0; i < n; ++i) ref[j] += H(i, j) * v[i];
        ASSERT_TRUE(errors.reference(ref, dsv4::testing::vjp_by_differences(forward, x, dsv4::testing::to_double(v)))) << n;
        auto got = v;
        dsv4::kernels::hadamard_inplace(got.data(), n);
        ASSERT_TRUE(errors.kernel(got, ref)) << n;
    }
}
