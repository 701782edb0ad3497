// SwiGLU clamp by hand: up clamped on both sides, gate from above only, weight applied last.
#include <dsv4/kernels/swiglu.hpp>

#include <gtest/gtest.h>

#include <cmath>

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
