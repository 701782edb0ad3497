// dsv4/kernels/indexer_score.hpp — the lightning indexer's score of each compressed entry.
//
//   weighted_relu_sum:  dots: [n][heads] (entry i's dot with head h at dots[i * heads + h]),
//                       w: [heads] head weights;  out[i] = Σ_h w[h] · max(dots[i][h], 0)
//   indexer_scores:     keys: [n][dim], q: [heads][dim];  out[i] = the same with
//                       dots[i][h] = q[h] · keys[i], both steps fused
//
// Each dot is one chain of fused multiply-adds over dim in order, from 0 (what the packed
// GEMM kernel computes for it where the compiler contracts its xsimd::fma, as -O2 does). Per entry, heads are summed in 16-lane partial sums over
// blocks of 16 heads (in block order), then across lanes in a fixed tree; the scalar tail
// path of heads % 16 follows. The order depends only on the head count, never on the entry,
// the tile or the thread. max(0, d) keeps a NaN dot NaN, as the scalar std::max(d, 0) does.
// Backward (weighted_relu_sum_backward): ∂dots[i][h] = dscores[i]·w[h]·[dots[i][h] > 0],
// ∂w[h] += Σ_i dscores[i]·max(dots[i][h], 0).
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
        size_t tail = 0;  // first head of the scalar tail
        float acc = 0.0f;
#if defined(__AVX512F__)
        if (heads >= 16) {
            tail = heads - heads % 16;
            const __m512 zero = _mm512_setzero_ps();
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(w), _mm512_max_ps(zero, _mm512_loadu_ps(d)));
            for (size_t h = 16; h < tail; h += 16)
                v = _mm512_fmadd_ps(_mm512_loadu_ps(w + h), _mm512_max_ps(zero, _mm512_loadu_ps(d + h)), v);
            acc = detail::hsum(v);
        }
#endif
        for (size_t h = tail; h < heads; ++h) acc = fma_like_simd(w[h], std::max(d[h], 0.0f), acc);
        out[i] = acc;
    }
}

// Backward of weighted_relu_sum: dots [n][heads], w [heads], dscores [n] = ∂L/∂out. Writes
// ddots [n][heads] (overwrite) = dscores[i]·w[h] where dots[i][h] > 0, else 0 (ReLU's
// derivative, 0 at 0 and for NaN); accumulates dw [heads] += Σ_i dscores[i]·max(dots[i][h], 0),
// summed in i order (a NaN dot stays NaN there, as in the forward).
inline void weighted_relu_sum_backward(const float* dots, size_t n, size_t heads, const float* w, const float* dscores,
                                       float* ddots, float* dw) noexcept {
    for (size_t i = 0; i < n; ++i) {
        const float* d = dots + i * heads;
        float* dd = ddots + i * heads;
        const float ds = dscores[i];
        for (size_t h = 0; h < heads; ++h) {
            dd[h] = d[h] > 0.0f ? ds * w[h] : 0.0f;
            dw[h] += ds * std::max(d[h], 0.0f);
        }
    }
}

// q laid out for indexer_scores: [dim][heads] (a depth step's head values are one row).
inline void pack_indexer_query(const float* q, size_t heads, size_t dim, float* packed) noexcept {
    for (size_t h = 0; h < heads; ++h)
        for (size_t k = 0; k < dim; ++k) packed[k * heads + h] = q[h * dim + k];
}

#if defined(__AVX512F__)
namespace detail {

// R entries x (16·V) heads: accumulators stay in registers over the whole depth (the keys
// stream once, the packed query stays in L1), then the weighted ReLU sum of each entry.
template <size_t R, size_t V>
inline void indexer_score_rows(const float* keys, size_t dim, const float* qp, const float* w, float* out) noexcept {
    __m512 acc[R][V];
#pragma GCC unroll 8
    for (size_t r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (size_t v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
    for (size_t k = 0; k < dim; ++k) {
        __m512 b[V];
#pragma GCC unroll 4
        for (size_t v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(qp + k * 16 * V + 16 * v);
#pragma GCC unroll 8
        for (size_t r = 0; r < R; ++r) {
            const __m512 a = _mm512_set1_ps(keys[r * dim + k]);
#pragma GCC unroll 4
            for (size_t v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (size_t r = 0; r < R; ++r) {
        __m512 sum = _mm512_mul_ps(_mm512_loadu_ps(w), _mm512_max_ps(zero, acc[r][0]));
#pragma GCC unroll 4
        for (size_t v = 1; v < V; ++v) sum = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16 * v), _mm512_max_ps(zero, acc[r][v]), sum);
        out[r] = hsum(sum);
    }
}

template <size_t V>
inline void indexer_scores_v(const float* keys, size_t n, size_t dim, const float* qp, const float* w, float* out) noexcept {
    constexpr size_t R = V <= 2 ? 8 : 24 / V;  // accumulators: 16 (V = 2), 24 (V = 3, 4 with R = 6)
    const size_t blocked = n - n % R;  // (bounds written out: GCC 12 misreads `i + R <= n` loops here)
    for (size_t i = 0; i < blocked; i += R) indexer_score_rows<R, V>(keys + i * dim, dim, qp, w, out + i);
    for (size_t i = blocked; i < n; ++i) indexer_score_rows<1, V>(keys + i * dim, dim, qp, w, out + i);
}

}  // namespace detail
#endif

// Whether indexer_scores takes this head count (else: dots by linear_rows, then weighted_relu_sum).
inline bool indexer_scores_available(size_t heads) noexcept {
#if defined(__AVX512F__)
    return heads % 16 == 0 && heads >= 16 && heads <= 64;
#else
    (void)heads;
    return false;
#endif
}

// out[i] = Σ_h w[h] · max(q[h] · keys[i], 0) for i < n; q_packed from pack_indexer_query.
// Requires indexer_scores_available(heads).
inline void indexer_scores(const float* keys, size_t n, size_t dim, const float* q_packed, size_t heads, const float* w,
                           float* out) noexcept {
#if defined(__AVX512F__)
    switch (heads / 16) {
        case 1: detail::indexer_scores_v<1>(keys, n, dim, q_packed, w, out); return;
        case 2: detail::indexer_scores_v<2>(keys, n, dim, q_packed, w, out); return;
        case 3: detail::indexer_scores_v<3>(keys, n, dim, q_packed, w, out); return;
        case 4: detail::indexer_scores_v<4>(keys, n, dim, q_packed, w, out); return;
        default: return;
    }
#else
    (void)keys, (void)n, (void)dim, (void)q_packed, (void)heads, (void)w, (void)out;
#endif
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
