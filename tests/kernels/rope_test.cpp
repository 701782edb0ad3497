// RoPE against complex multiplication in double; YaRN frequencies by the spec's formula.
#include <dsv4/kernels/rope.hpp>

#include <gtest/gtest.h>

#include <complex>

#include "kernel_test_util.hpp"

TEST(Rope, InterleavedPairsRotateAndInverseUndoes) {
    for (int rd : {2, 8, 16, 64}) {
        const auto f = dsv4::kernels::rope_frequencies({rd, 10000.0, 0, 1.0, 32, 1});
        auto x = dsv4::testing::random_floats(size_t(rd), 9);
        auto y = x;
        dsv4::kernels::apply_rope(y.data(), f.data(), rd, 1234);
        for (int k = 0; k < rd / 2; ++k) {
            const std::complex<double> z(x[2 * k], x[2 * k + 1]);
            const auto r = z * std::polar(1.0, double(float(1234) * f[size_t(k)]));
            ASSERT_NEAR(y[2 * k], r.real(), 1e-4);
            ASSERT_NEAR(y[2 * k + 1], r.imag(), 1e-4);
        }
        dsv4::kernels::apply_rope(y.data(), f.data(), rd, 1234, true);
        for (int i = 0; i < rd; ++i) ASSERT_NEAR(y[i], x[i], 1e-5);
    }
}

TEST(Rope, YarnRampForFlashCompressedLayers) {
    // base 160000, rope 64, original 65536, factor 16: low = 15, high = 25 (docs/spec/ARCHITECTURE.md §2.2)
    const auto plain = dsv4::kernels::rope_frequencies({64, 160000.0, 0, 16.0, 32, 1});
    const auto yarn = dsv4::kernels::rope_frequencies({64, 160000.0, 65536, 16.0, 32, 1});
    for (int k = 0; k <= 15; ++k) EXPECT_FLOAT_EQ(yarn[size_t(k)], plain[size_t(k)]) << k;
    for (int k = 25; k < 32; ++k) EXPECT_NEAR(yarn[size_t(k)], plain[size_t(k)] / 16, 1e-12) << k;
    const float ramp20 = (20.0f - 15.0f) / 10.0f;
    EXPECT_NEAR(yarn[20], plain[20] / 16 * ramp20 + plain[20] * (1 - ramp20), 1e-9);
    EXPECT_NEAR(plain[1], std::pow(160000.0, -2.0 / 64), 1e-7);
}
