// dsv4/kernels/indexer_score.hpp — the lightning indexer's score of each compressed entry.
//
//   dots: [n][heads] (entry i's dot with head h at dots[i * heads + h]), w: [heads] head weights
//   out[i] = Σ_h w[h] · max(dots[i][h], 0)
//
// Per entry, heads are summed in 16-lane partial sums over blocks of 16 heads (in block
// order), then across lanes in a fixed tree; the scalar tail path of heads % 16 follows.
// The order depends only on the head count, never on the entry or the thread. max(0, d)
// keeps a NaN dot NaN, as the scalar std::max(d, 0) does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/simd.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

inline void weighted_relu_sum(const float* dots, size_t n, size_t heads, const float* w, float* out) noexcept {
    for (size_t i = 0; i < n; ++i) {
        const float* d = dots + i * heads;
        size_t h = 0;
        float acc = 0.0f;
#if defined(__AVX512F__)
        if (heads >= 16) {
            const __m512 zero = _mm512_setzero_ps();
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(w), _mm512_max_ps(zero, _mm512_loadu_ps(d)));
            for (h = 16; h + 16 <= heads; h += 16)
                v = _mm512_fmadd_ps(_mm512_loadu_ps(w + h), _mm512_max_ps(zero, _mm512_loadu_ps(d + h)), v);
            acc = detail::hsum(v);
        }
#endif
        for (; h < heads; ++h) acc = fma_like_simd(w[h], std::max(d[h], 0.0f), acc);
        out[i] = acc;
    }
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
