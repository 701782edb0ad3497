// dsv4/kernels/rmsnorm.hpp — RMS normalisation of one row, with or without a weight.
//   y[k] = w[k] * x[k] / sqrt(mean(x^2) + eps)   (w == nullptr: weightless)
// x and y may alias (in-place).
// Backward (rmsnorm_backward): with r = 1/sqrt(mean(x^2) + eps) and g = w ⊙ dy,
//   dx = r·g − x · r³ · (g·x)/n,   dw += dy ⊙ x · r.
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

// Backward of rmsnorm for one row of n: dy [n] in, dx [n] out (overwritten), dw [n]
// accumulated (dw == nullptr: not wanted; w == nullptr: weightless, then g = dy).
//   g = w ⊙ dy;  dx = r·g − x · r³ · (g·x)/n;  dw += dy ⊙ x · r
// r is the forward's (rms_inverse), so a training step differentiates the value it used.
// dx may alias dy (every element is read before it is written, index by index); x must not
// alias dx.
inline void rmsnorm_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, size_t n,
                             float eps) noexcept {
    const float r = rms_inverse(x, n, eps);
    float gx;  // g · x
    if (w) {
        vfloat acc(0.0f);
        size_t k = 0;
        for (; k + vsize <= n; k += vsize)
            acc = xsimd::fma(vfloat::load_unaligned(w + k) * vfloat::load_unaligned(dy + k), vfloat::load_unaligned(x + k), acc);
        gx = xsimd::hadd(acc);
        for (; k < n; ++k) gx = fma_like_simd(w[k] * dy[k], x[k], gx);
    } else {
        gx = dot(dy, x, n);
    }
    if (dw) {  // before dx: dx may be dy
        const vfloat vr(r);
        size_t k = 0;
        for (; k + vsize <= n; k += vsize)
            xsimd::fma(vfloat::load_unaligned(dy + k) * vfloat::load_unaligned(x + k), vr, vfloat::load_unaligned(dw + k))
                .store_unaligned(dw + k);
        for (; k < n; ++k) dw[k] = fma_like_simd(dy[k] * x[k], r, dw[k]);
    }
    const float c = r * r * r * (gx / float(n));  // the projection onto x that normalisation removes
    const vfloat vr(r), vc(c);
    size_t k = 0;
    for (; k + vsize <= n; k += vsize) {
        vfloat g = vfloat::load_unaligned(dy + k);
        if (w) g *= vfloat::load_unaligned(w + k);
        xsimd::fms(vr, g, vc * vfloat::load_unaligned(x + k)).store_unaligned(dx + k);
    }
    for (; k < n; ++k) {
        const float g = w ? w[k] * dy[k] : dy[k];
        dx[k] = r * g - c * x[k];
    }
}

}  // namespace dsv4::kernels
