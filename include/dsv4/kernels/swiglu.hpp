// dsv4/kernels/swiglu.hpp — SwiGLU with the V4 clamp, in place on the gate row.
//   up ← clamp(up, −limit, limit); gate ← min(gate, limit)   (limit ≤ 0: no clamp)
//   h = silu(gate) · up · weight
// Backward (swiglu_backward): the product rule through silu, with the clamps' derivative
// 0 outside [−limit, limit] (gate: above limit) and 1 at the bounds (torch's convention).
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

// Backward of swiglu for one row of n, given the pre-activations g = w1·x and u = w3·x
// (before the clamp) and dh = ∂L/∂h: writes dg, du [n] (overwrite). A clamped element
// passes no gradient (the gate where g > limit, the up where u < −limit or u > limit);
// exactly at ±limit the derivative is 1 (torch's clamp/min convention, docs/spec/TRAINING.md
// §4.2). With silu(a) = a·σ(a), silu'(a) = σ(a)·(1 + a·(1 − σ(a))).
// Returns Σ_i dh_i · silu(min(g_i, L)) · clamp(u_i), the gradient of the routing `weight`.
inline float swiglu_backward(const float* g, const float* u, const float* dh, size_t n, float limit, float weight,
                             float* dg, float* du) noexcept {
    float dweight = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        float gc = g[i], uc = u[i];
        bool g_passes = true, u_passes = true;
        if (limit > 0) {
            g_passes = !(gc > limit);
            u_passes = !(uc < -limit || uc > limit);
            uc = std::clamp(uc, -limit, limit);
            gc = std::min(gc, limit);
        }
        const float e1 = 1.0f + std::exp(-gc);
        const float sig = 1.0f / e1, silu = gc / e1;  // silu rounded as the forward rounds it
        const float dsilu = sig * (1.0f + gc * (1.0f - sig));
        dweight += dh[i] * silu * uc;
        const float dhw = dh[i] * weight;
        dg[i] = g_passes ? dhw * uc * dsilu : 0.0f;
        du[i] = u_passes ? dhw * silu : 0.0f;
    }
    return dweight;
}

}  // namespace dsv4::kernels
