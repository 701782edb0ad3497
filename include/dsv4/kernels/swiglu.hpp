// dsv4/kernels/swiglu.hpp — SwiGLU with the V4 clamp, in place on the gate row.
//   up ← clamp(up, −limit, limit); gate ← min(gate, limit)   (limit ≤ 0: no clamp)
//   h = silu(gate) · up · weight
#pragma once

#include <algorithm>
#include <cmath>

namespace dsv4::kernels {

inline void swiglu(float* gate, const float* up, size_t n, float limit, float weight) noexcept {
    for (size_t i = 0; i < n; ++i) {
        float g = gate[i], u = up[i];
        if (limit > 0) {
            u = std::clamp(u, -limit, limit);
            g = std::min(g, limit);
        }
        gate[i] = weight * ((g / (1.0f + std::exp(-g))) * u);
    }
}

}  // namespace dsv4::kernels
