// RoPE against complex multiplication in double; YaRN frequencies by the spec's formula; the
// backward (the opposite rotation) against the Jacobian's transpose.
#include <dsv4/kernels/rope.hpp>

#include <gtest/gtest.h>

#include <complex>
#include <vector>

#include "../support/gradcheck.hpp"
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

// The backward of a rotation is its transpose, which is the opposite rotation: apply_rope
// with the inverse flag flipped, against J^T·v in double, J^T·v against finite differences.
TEST(RopeBackward, IsTheOppositeRotation) {
    dsv4::testing::gradient_errors errors;
    for (int rd : {2, 8, 64})
        for (bool inverse : {false, true}) {
            const auto f = dsv4::kernels::rope_frequencies({rd, 10000.0, 4096, 4.0, 32, 1});
            std::vector<float> c(size_t(rd / 2)), sn(size_t(rd / 2));
            dsv4::kernels::rope_cos_sin(f.data(), rd, 1234, c.data(), sn.data());
            auto forward = [&](const std::vector<double>& x) {  // apply_rope in double, same cos/sin
                std::vector<double> y(x.size());
                for (size_t k = 0; k < c.size(); ++k) {
                    const double s = inverse ? -double(sn[k]) : double(sn[k]);
                    y[2 * k] = x[2 * k] * c[k] - x[2 * k + 1] * s;
                    y[2 * k + 1] = x[2 * k] * s + x[2 * k + 1] * c[k];
                }
                return y;
            };
            const auto x = dsv4::testing::to_double(dsv4::testing::random_floats(size_t(rd), 140, 2.0f));
            const auto v = dsv4::testing::random_floats(size_t(rd), 141);
            std::vector<double> ref(c.size() * 2);  // J^T v, J = [[c, −s], [s, c]] per pair
            for (size_t k = 0; k < c.size(); ++k) {
                const double s = inverse ? -double(sn[k]) : double(sn[k]);
                ref[2 * k] = c[k] * double(v[2 * k]) + s * v[2 * k + 1];
                ref[2 * k + 1] = -s * v[2 * k] + double(c[k]) * v[2 * k + 1];
            }
            ASSERT_TRUE(errors.reference(ref, dsv4::testing::vjp_by_differences(forward, x, dsv4::testing::to_double(v))))
                << rd << " " << inverse;
            auto got = v;
            dsv4::kernels::apply_rope(got.data(), c.data(), sn.data(), rd, !inverse);
            ASSERT_TRUE(errors.kernel(got, ref)) << rd << " " << inverse;
        }
}
