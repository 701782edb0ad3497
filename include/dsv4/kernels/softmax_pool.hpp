// dsv4/kernels/softmax_pool.hpp — the compressor's gated pooling of one channel.
//
//   score, kv: [n] (a channel's gate scores and values at the n pooled positions)
//   w_i = exp(score_i − max) / Σ_k exp(score_k − max),  out = Σ_i w_i·kv_i
// A score of −inf (the padding before the first block) has weight 0 and gets no gradient.
// softmax_pool is compress_tokens' per-channel arithmetic (nn/compressor.hpp) operation for
// operation: the max, exp(score − max), the denominator summed in i order, then
// acc += kv_i·(w_i / den) in i order, as the same expressions (which the compiler contracts
// to a fused multiply-add, or not, alike), so both give the same bits.
// Backward (softmax_pool_backward): ∂kv_i = w_i·dout, ∂score_i = w_i·(kv_i − out)·dout.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace dsv4::kernels {

namespace detail {

// The softmax's max and denominator over n scores (n ≥ 1, not all −inf).
struct softmax_norm {
    float max, den;
};

inline softmax_norm softmax_normaliser(const float* score, size_t n) noexcept {
    float mx = -INFINITY;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, score[i]);
    float den = 0;
    for (size_t i = 0; i < n; ++i) den += std::exp(score[i] - mx);
    return {mx, den};
}

inline float softmax_pool(const float* score, const float* kv, size_t n, softmax_norm s) noexcept {
    float acc = 0;
    for (size_t i = 0; i < n; ++i) acc += kv[i] * (std::exp(score[i] - s.max) / s.den);
    return acc;
}

}  // namespace detail

inline float softmax_pool(const float* score, const float* kv, size_t n) noexcept {
    return detail::softmax_pool(score, kv, n, detail::softmax_normaliser(score, n));
}

// Backward of softmax_pool given dout = ∂L/∂out: dkv [n] = w_i·dout and
// dscore [n] = w_i·(kv_i − out)·dout (both overwritten); a −inf score gets 0 in both.
inline void softmax_pool_backward(const float* score, const float* kv, size_t n, float dout, float* dscore,
                                  float* dkv) noexcept {
    const detail::softmax_norm s = detail::softmax_normaliser(score, n);
    const float out = detail::softmax_pool(score, kv, n, s);
    for (size_t i = 0; i < n; ++i) {
        const float w = std::exp(score[i] - s.max) / s.den;
        dkv[i] = w * dout;
        dscore[i] = w == 0.0f ? 0.0f : w * (kv[i] - out) * dout;
    }
}

}  // namespace dsv4::kernels
