// dsv4/kernels/attention.hpp — one query head over a list of KV rows with an attention sink.
//
//   q: [d], rows: n pointers to [d] vectors (K = V, MQA), sink: one raw logit
//   s_j = scale · (q · kv_j);  m = max_j s_j (the sink is not part of the max)
//   o = Σ_j exp(s_j − m) kv_j / (Σ_j exp(s_j − m) + exp(sink − m))
// `scores` is caller scratch of n floats.
// Backward (attend_with_sink_backward): with p_j the probabilities (sink in the denominator),
// dp_j = dout·kv_j and δ = Σ_j p_j dp_j: ∂L/∂s_j = p_j (dp_j − δ), ∂L/∂sink = −p_sink·δ.
#pragma once

#include <algorithm>
#include <cmath>

#include <dsv4/kernels/simd.hpp>

namespace dsv4::kernels {

// scores[j] <- exp(scores[j] - m), m = max_j scores[j]; returns 1 / (Σ_j exp(s_j - m) + exp(sink - m)).
inline float exp_scores_with_sink(float* scores, size_t n, float sink) noexcept {
    float m = -INFINITY;
    for (size_t j = 0; j < n; ++j) m = std::max(m, scores[j]);
    float den = 0;
    for (size_t j = 0; j < n; ++j) den += (scores[j] = std::exp(scores[j] - m));
    den += std::exp(sink - m);
    return 1.0f / den;
}

inline void attend_with_sink(const float* q, const float* const* rows, size_t n, size_t d, float scale, float sink,
                             float* scores, float* out) noexcept {
    for (size_t j = 0; j < n; ++j) scores[j] = scale * dot(q, rows[j], d);
    const float inv = exp_scores_with_sink(scores, n, sink);
    std::fill(out, out + d, 0.0f);
    for (size_t j = 0; j < n; ++j) axpy(scores[j], rows[j], out, d);
    for (size_t k = 0; k < d; ++k) out[k] *= inv;
}

// Backward of attend_with_sink for one head. Recomputes the scores and the probabilities
// p_j = exp(s_j − m) / (Σ_i exp(s_i − m) + exp(sink − m)). Given dout [d] = ∂L/∂o, writes
// p [n] = p_j, dsc [n] = scale·∂L/∂s_j and dq [d] (overwrite), so that row j's gradient (as
// key and as value, K = V) is p[j]·dout + dsc[j]·q; returns ∂L/∂sink. With dp_j = dout·row_j
// and δ = Σ_j p_j dp_j (= dout·o):
//   ∂L/∂s_j = p_j (dp_j − δ),  dq = Σ_j dsc[j]·row_j,  ∂L/∂sink = −p_sink·δ.
// n = 0: dq = 0 and the sink (alone in the softmax) has gradient 0.
inline float attend_with_sink_backward(const float* q, const float* const* rows, size_t n, size_t d, float scale, float sink,
                                       const float* dout, float* p, float* dsc, float* dq) noexcept {
    std::fill(dq, dq + d, 0.0f);
    if (n == 0) return 0.0f;
    float m = -INFINITY;
    for (size_t j = 0; j < n; ++j) m = std::max(m, p[j] = scale * dot(q, rows[j], d));  // the forward's scores
    const float inv = exp_scores_with_sink(p, n, sink);
    const float p_sink = std::exp(sink - m) * inv;
    float delta = 0.0f;
    for (size_t j = 0; j < n; ++j) {
        p[j] *= inv;
        dsc[j] = dot(dout, rows[j], d);  // dp_j for now
        delta += p[j] * dsc[j];
    }
    for (size_t j = 0; j < n; ++j) {
        dsc[j] = scale * (p[j] * (dsc[j] - delta));
        axpy(dsc[j], rows[j], dq, d);
    }
    return -p_sink * delta;
}

namespace detail {

// Up to 4 heads' dot products with one row, each computed exactly as dot(q_h, row, d) (the
// same four accumulators, the same order, the same final sum), sharing the row's loads.
template <size_t B>
inline void dot_heads(const float* q, size_t ldq, const float* row, size_t d, float scale, float* out, size_t ldout) noexcept {
    vfloat acc[B][4];
    for (size_t h = 0; h < B; ++h) acc[h][0] = acc[h][1] = acc[h][2] = acc[h][3] = vfloat(0.0f);
    size_t k = 0;
    for (; k + 4 * vsize <= d; k += 4 * vsize) {
        const vfloat r0 = vfloat::load_unaligned(row + k), r1 = vfloat::load_unaligned(row + k + vsize);
        const vfloat r2 = vfloat::load_unaligned(row + k + 2 * vsize), r3 = vfloat::load_unaligned(row + k + 3 * vsize);
#pragma GCC unroll 4
        for (size_t h = 0; h < B; ++h) {
            const float* qh = q + h * ldq + k;
            acc[h][0] = xsimd::fma(vfloat::load_unaligned(qh), r0, acc[h][0]);
            acc[h][1] = xsimd::fma(vfloat::load_unaligned(qh + vsize), r1, acc[h][1]);
            acc[h][2] = xsimd::fma(vfloat::load_unaligned(qh + 2 * vsize), r2, acc[h][2]);
            acc[h][3] = xsimd::fma(vfloat::load_unaligned(qh + 3 * vsize), r3, acc[h][3]);
        }
    }
    for (; k + vsize <= d; k += vsize) {
        const vfloat r = vfloat::load_unaligned(row + k);
        for (size_t h = 0; h < B; ++h) acc[h][0] = xsimd::fma(vfloat::load_unaligned(q + h * ldq + k), r, acc[h][0]);
    }
    for (size_t h = 0; h < B; ++h) {
        float s = xsimd::hadd((acc[h][0] + acc[h][1]) + (acc[h][2] + acc[h][3]));
        for (size_t kk = k; kk < d; ++kk) s += q[h * ldq + kk] * row[kk];
        out[h * ldout] = scale * s;
    }
}

// out[h][k] = Σ_j p[h][j] · rows[j][k] for B <= 4 heads and k in [k0, k0 + V·vsize): each
// element is the sequence of fused multiply-adds that axpy calls in row order make, from 0,
// so the bits are attend_with_sink's; the accumulators stay in registers over all rows.
template <size_t B, size_t V>
inline void weighted_rows(const float* p, size_t n, const float* const* rows, size_t k0, float* out, size_t ldo) noexcept {
    vfloat acc[B][V];
    for (size_t h = 0; h < B; ++h)
        for (size_t v = 0; v < V; ++v) acc[h][v] = vfloat(0.0f);
    for (size_t j = 0; j < n; ++j) {
        vfloat r[V];
#pragma GCC unroll 4
        for (size_t v = 0; v < V; ++v) r[v] = vfloat::load_unaligned(rows[j] + k0 + v * vsize);
#pragma GCC unroll 4
        for (size_t h = 0; h < B; ++h) {
            const vfloat w(p[h * n + j]);
#pragma GCC unroll 4
            for (size_t v = 0; v < V; ++v) acc[h][v] = xsimd::fma(w, r[v], acc[h][v]);
        }
    }
    for (size_t h = 0; h < B; ++h)
        for (size_t v = 0; v < V; ++v) acc[h][v].store_unaligned(out + h * ldo + k0 + v * vsize);
}

inline void prefetch_row(const float* row, size_t d) noexcept {
    for (size_t k = 0; k < d; k += 64 / sizeof(float)) __builtin_prefetch(row + k, 0, 3);
}

// Calls f.template operator()<B>(h) for the heads [h, h + B) of G in blocks of 4 (then 3, 2, 1).
template <class F>
inline void for_head_blocks(size_t G, F&& f) {
    size_t h = 0;
    for (; h + 4 <= G; h += 4) f.template operator()<4>(h);
    switch (G - h) {
        case 3: f.template operator()<3>(h); break;
        case 2: f.template operator()<2>(h); break;
        case 1: f.template operator()<1>(h); break;
        default: break;
    }
}

}  // namespace detail

// G heads of one query over the same rows (MQA: every head reads the same KV rows): q: [G, d]
// (row stride ldq), sinks: [G], scratch: G*(n+1) floats, out: [G, d] (stride ldo).
// Heads go in blocks of 4 that share every row load: the score dots keep their accumulators
// per head, and the weighted sum keeps 4 heads x 64 outputs in registers across all rows. All
// blocks take a row (for the scores) or a 64-wide slice of every row (for the weighted sum)
// in turn, so the rows come from far memory once per pass whatever G is, then from L1 (a row)
// or L2 (a slice of 640 rows is 160 KB). Per head the math and the summation order are those
// of attend_with_sink, so both give identical bits.
inline void attend_heads_with_sink(const float* q, size_t ldq, size_t G, const float* const* rows, size_t n, size_t d,
                                   float scale, const float* sinks, float* scratch, float* out, size_t ldo) noexcept {
    float* scores = scratch;         // [G][n]
    float* inv_den = scratch + G * n;  // [G]
    for (size_t j = 0; j < n; ++j) {
        // rows are scattered (top-k lists): fetch the row after next while this one is used
        if (j + 2 < n) detail::prefetch_row(rows[j + 2], d);
        detail::for_head_blocks(G, [&]<size_t B>(size_t h) {
            detail::dot_heads<B>(q + h * ldq, ldq, rows[j], d, scale, scores + h * n + j, n);
        });
    }
    for (size_t h = 0; h < G; ++h) inv_den[h] = exp_scores_with_sink(scores + h * n, n, sinks[h]);
    size_t k = 0;
    for (; k + 4 * vsize <= d; k += 4 * vsize)
        detail::for_head_blocks(G, [&]<size_t B>(size_t h) {
            detail::weighted_rows<B, 4>(scores + h * n, n, rows, k, out + h * ldo, ldo);
        });
    for (; k + vsize <= d; k += vsize)
        detail::for_head_blocks(G, [&]<size_t B>(size_t h) {
            detail::weighted_rows<B, 1>(scores + h * n, n, rows, k, out + h * ldo, ldo);
        });
    for (size_t h = 0; h < G; ++h)
        for (size_t kk = k; kk < d; ++kk) {
            float y = 0.0f;
            for (size_t j = 0; j < n; ++j) y = fma_like_simd(scores[h * n + j], rows[j][kk], y);  // axpy's tail
            out[h * ldo + kk] = y;
        }
    for (size_t h = 0; h < G; ++h)
        for (size_t kk = 0; kk < d; ++kk) out[h * ldo + kk] *= inv_den[h];
}

}  // namespace dsv4::kernels
