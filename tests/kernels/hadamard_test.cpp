// Fast Walsh-Hadamard against the explicit Sylvester matrix, and orthonormality.
#include <dsv4/kernels/hadamard.hpp>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>

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
