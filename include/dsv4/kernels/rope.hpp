// dsv4/kernels/rope.hpp — partial interleaved rotary embedding with optional YaRN.
//
// Only the last `rope_dim` entries of a vector rotate; pairs (2k, 2k+1) of that tail form
// x[2k] + i x[2k+1], multiplied by exp(i p f_k) (the inverse uses the conjugate).
// Frequencies are computed in f32 exactly as the reference does:
//   f_k = 1 / base^(2k / rope_dim); with YaRN (original_seq_len > 0) the high-k
//   frequencies are divided by `factor` along a linear ramp between the correction
//   dims of beta_fast and beta_slow. There is no attention-temperature term.
// Backward: the map is a rotation, so its transpose is its inverse: the gradient of
// apply_rope(…, inverse) is apply_rope(…, !inverse) on the output gradient (same cos/sin).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace dsv4::kernels {

struct rope_params {
    int rope_dim = 64;
    double base = 10000.0;
    int original_seq_len = 0;  // 0 = no YaRN
    double factor = 1.0;
    int beta_fast = 32;
    int beta_slow = 1;
};

inline std::vector<float> rope_frequencies(const rope_params& p) {
    const int half = p.rope_dim / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int k = 0; k < half; ++k) {
        const float expo = float(2 * k) / float(p.rope_dim);
        f[size_t(k)] = 1.0f / std::pow(float(p.base), expo);
    }
    if (p.original_seq_len > 0) {
        auto corr = [&](double rotations) {
            return p.rope_dim * std::log(p.original_seq_len / (rotations * 2 * std::numbers::pi)) / (2 * std::log(p.base));
        };
        const double low = std::max(std::floor(corr(p.beta_fast)), 0.0);
        double high = std::min(std::ceil(corr(p.beta_slow)), double(p.rope_dim - 1));
        if (low == high) high += 0.001;
        for (int k = 0; k < half; ++k) {
            const float ramp = std::clamp(float((float(k) - float(low)) / float(high - low)), 0.0f, 1.0f);
            const float smooth = 1.0f - ramp;
            f[size_t(k)] = f[size_t(k)] / float(p.factor) * (1.0f - smooth) + f[size_t(k)] * smooth;
        }
    }
    return f;
}

// cos and sin of position `pos` for every pair k: c[k] = cos(pos·f_k), sn[k] = sin(pos·f_k).
// Computed once per token and reused by every head that rotates at that position.
inline void rope_cos_sin(const float* freqs, int rope_dim, int64_t pos, float* c, float* sn) noexcept {
    for (int k = 0; k < rope_dim / 2; ++k) {
        const float angle = float(pos) * freqs[k];  // f32 product, as torch.outer in f32
        c[k] = std::cos(angle);
        sn[k] = std::sin(angle);
    }
}

// Rotates the tail x[0 .. rope_dim) (pass a pointer to the tail) by precomputed cos/sin.
inline void apply_rope(float* tail, const float* c, const float* sn, int rope_dim, bool inverse = false) noexcept {
    for (int k = 0; k < rope_dim / 2; ++k) {
        const float s = inverse ? -sn[k] : sn[k];
        const float a = tail[2 * k], b = tail[2 * k + 1];
        tail[2 * k] = a * c[k] - b * s;
        tail[2 * k + 1] = a * s + b * c[k];
    }
}

// Rotates the tail to position `pos` (one-off use; loops should precompute rope_cos_sin).
inline void apply_rope(float* tail, const float* freqs, int rope_dim, int64_t pos, bool inverse = false) {
    std::vector<float> c(size_t(rope_dim / 2)), sn(size_t(rope_dim / 2));
    rope_cos_sin(freqs, rope_dim, pos, c.data(), sn.data());
    apply_rope(tail, c.data(), sn.data(), rope_dim, inverse);
}

}  // namespace dsv4::kernels
