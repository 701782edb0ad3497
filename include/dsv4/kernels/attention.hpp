// dsv4/kernels/attention.hpp — one query head over a list of KV rows with an attention sink.
//
//   q: [d], rows: n pointers to [d] vectors (K = V, MQA), sink: one raw logit
//   s_j = scale · (q · kv_j);  m = max_j s_j (the sink is not part of the max)
//   o = Σ_j exp(s_j − m) kv_j / (Σ_j exp(s_j − m) + exp(sink − m))
// `scores` is caller scratch of n floats.
#pragma once

#include <algorithm>
#include <cmath>

#include <dsv4/kernels/simd.hpp>

namespace dsv4::kernels {

inline void attend_with_sink(const float* q, const float* const* rows, size_t n, size_t d, float scale, float sink,
                             float* scores, float* out) noexcept {
    float m = -INFINITY;
    for (size_t j = 0; j < n; ++j) {
        scores[j] = scale * dot(q, rows[j], d);
        m = std::max(m, scores[j]);
    }
    float den = 0;
    for (size_t j = 0; j < n; ++j) den += (scores[j] = std::exp(scores[j] - m));
    den += std::exp(sink - m);
    std::fill(out, out + d, 0.0f);
    for (size_t j = 0; j < n; ++j) axpy(scores[j], rows[j], out, d);
    const float inv = 1.0f / den;
    for (size_t k = 0; k < d; ++k) out[k] *= inv;
}

// G heads of one query over the same rows (MQA: every head reads the same KV rows), each
// row loaded once for all heads while it is in L1: q: [G, d] (row stride ldq), sinks: [G],
// scratch: G*(n+1) floats, out: [G, d] (stride ldo). Per head the math and the summation
// order are those of attend_with_sink, so both give identical bits.
inline void attend_heads_with_sink(const float* q, size_t ldq, size_t G, const float* const* rows, size_t n, size_t d,
                                   float scale, const float* sinks, float* scratch, float* out, size_t ldo) noexcept {
    float* inv_den = scratch + G * n;
    for (size_t j = 0; j < n; ++j)
        for (size_t h = 0; h < G; ++h) scratch[h * n + j] = scale * dot(q + h * ldq, rows[j], d);
    for (size_t h = 0; h < G; ++h) {
        float* sh = scratch + h * n;
        float m = -INFINITY;
        for (size_t j = 0; j < n; ++j) m = std::max(m, sh[j]);
        float den = 0;
        for (size_t j = 0; j < n; ++j) den += (sh[j] = std::exp(sh[j] - m));
        den += std::exp(sinks[h] - m);
        inv_den[h] = 1.0f / den;
        std::fill(out + h * ldo, out + h * ldo + d, 0.0f);
    }
    for (size_t j = 0; j < n; ++j)
        for (size_t h = 0; h < G; ++h) axpy(scratch[h * n + j], rows[j], out + h * ldo, d);
    for (size_t h = 0; h < G; ++h)
        for (size_t k = 0; k < d; ++k) out[h * ldo + k] *= inv_den[h];
}

}  // namespace dsv4::kernels
