// dsv4/kernels/simd.hpp — the small SIMD vocabulary every kernel uses (xsimd 8.1).
//
// One arch per build (xsimd::default_arch: AVX-512 under -march=native, else AVX2/SSE).
// Reductions use a fixed number of accumulators combined in a fixed order, so a result
// never depends on the thread that computed it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>

namespace dsv4::kernels {

using arch = xsimd::default_arch;
using vfloat = xsimd::batch<float, arch>;
inline constexpr size_t vsize = vfloat::size;

// a * b + c rounded as xsimd::fma rounds it on this target: fused where the target has FMA
// (one rounding), a multiply then an add otherwise (xsimd's fallback). Scalar tails use it so
// they round like their vector bodies, without a library call on targets without FMA.
inline float fma_like_simd(float a, float b, float c) noexcept {
#if defined(FP_FAST_FMAF)
    return std::fma(a, b, c);
#else
    const float p = a * b;
    return p + c;
#endif
}

// sum_k a[k] * b[k], four vector accumulators; a, b may be unaligned.
inline float dot(const float* __restrict a, const float* __restrict b, size_t n) noexcept {
    vfloat acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
    size_t k = 0;
    for (; k + 4 * vsize <= n; k += 4 * vsize) {
        acc0 = xsimd::fma(vfloat::load_unaligned(a + k), vfloat::load_unaligned(b + k), acc0);
        acc1 = xsimd::fma(vfloat::load_unaligned(a + k + vsize), vfloat::load_unaligned(b + k + vsize), acc1);
        acc2 = xsimd::fma(vfloat::load_unaligned(a + k + 2 * vsize), vfloat::load_unaligned(b + k + 2 * vsize), acc2);
        acc3 = xsimd::fma(vfloat::load_unaligned(a + k + 3 * vsize), vfloat::load_unaligned(b + k + 3 * vsize), acc3);
    }
    for (; k + vsize <= n; k += vsize) acc0 = xsimd::fma(vfloat::load_unaligned(a + k), vfloat::load_unaligned(b + k), acc0);
    float s = xsimd::hadd((acc0 + acc1) + (acc2 + acc3));
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
}

// sum_k a[k]^2
inline float sum_squares(const float* __restrict a, size_t n) noexcept { return dot(a, a, n); }

// y[k] += alpha * x[k]
inline void axpy(float alpha, const float* __restrict x, float* __restrict y, size_t n) noexcept {
    const vfloat va(alpha);
    size_t k = 0;
    for (; k + vsize <= n; k += vsize)
        xsimd::fma(va, vfloat::load_unaligned(x + k), vfloat::load_unaligned(y + k)).store_unaligned(y + k);
    for (; k < n; ++k) y[k] = fma_like_simd(alpha, x[k], y[k]);  // the vector body's rounding, whatever the compiler contracts
}

// y[k] = alpha * x[k]
inline void scale_copy(float alpha, const float* __restrict x, float* __restrict y, size_t n) noexcept {
    const vfloat va(alpha);
    size_t k = 0;
    for (; k + vsize <= n; k += vsize) (va * vfloat::load_unaligned(x + k)).store_unaligned(y + k);
    for (; k < n; ++k) y[k] = alpha * x[k];
}

}  // namespace dsv4::kernels
