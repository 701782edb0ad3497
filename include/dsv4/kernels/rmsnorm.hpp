// dsv4/kernels/rmsnorm.hpp — RMS normalisation of one row, with or without a weight.
//   y[k] = w[k] * x[k] / sqrt(mean(x^2) + eps)   (w == nullptr: weightless)
// x and y may alias (in-place).
#pragma once

#include <cmath>

#include <dsv4/kernels/simd.hpp>

namespace dsv4::kernels {

inline float rms_inverse(const float* x, size_t n, float eps) noexcept {
    return 1.0f / std::sqrt(sum_squares(x, n) / float(n) + eps);
}

inline void rmsnorm(const float* x, const float* w, float* y, size_t n, float eps) noexcept {
    const float r = rms_inverse(x, n, eps);
    if (!w) {
        scale_copy(r, x, y, n);
        return;
    }
    const vfloat vr(r);
    size_t k = 0;
    for (; k + vsize <= n; k += vsize)
        (vfloat::load_unaligned(w + k) * (vfloat::load_unaligned(x + k) * vr)).store_unaligned(y + k);
    for (; k < n; ++k) y[k] = w[k] * (x[k] * r);
}

}  // namespace dsv4::kernels
