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

}  // namespace dsv4::kernels
