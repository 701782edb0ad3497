// dot / axpy / scale_copy against scalar loops, all small lengths, misaligned pointers.
#include <dsv4/kernels/simd.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.hpp"

TEST(Simd, DotAxpyScaleCopyMatchScalar) {
    dsv4::testing::for_each_length_and_misalignment([](size_t n, size_t off) {
        auto a = dsv4::testing::random_floats(n + off, 1), b = dsv4::testing::random_floats(n + off, 2);
        double ref = 0;
        for (size_t i = 0; i < n; ++i) ref += double(a[off + i]) * double(b[off + i]);
        EXPECT_NEAR(dsv4::kernels::dot(a.data() + off, b.data() + off, n), ref, 1e-6 * double(n + 1)) << n;
        auto y = b;
        dsv4::kernels::axpy(0.5f, a.data() + off, y.data() + off, n);
        for (size_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(y[off + i], b[off + i] + 0.5f * a[off + i]);
        dsv4::kernels::scale_copy(-2.0f, a.data() + off, y.data() + off, n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[off + i], -2.0f * a[off + i]);
    });
}
