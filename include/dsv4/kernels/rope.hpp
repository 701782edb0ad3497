// dsv4/kernels/rope.hpp — partial interleaved rotary embedding with optional YaRN.
//
// Only the last `rope_dim` entries of a vector rotate; pairs (2k, 2k+1) of that tail form
// x[2k] + i x[2k+1], multiplied by exp(i p f_k) (the inverse uses the conjugate).
// Frequencies are computed in f32 exactly as the reference does:
//   f_k = 1 / base^(2k / rope_dim); with YaRN (original_seq_len > 0) the high-k
//   frequencies are divided by `factor` along a linear ramp between the correction
//   dims of beta_fast and beta_slow. There is no attention-temperature term.
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

// Rotates the tail x[0 .. rope_dim) (pass a pointer to the tail) to position `pos`.
inline void apply_rope(float* tail, const float* freqs, int rope_dim, int64_t pos, bool inverse = false) noexcept {
    for (int k = 0; k < rope_dim / 2; ++k) {
        const float angle = float(pos) * freqs[k];  // f32 product, as torch.outer in f32
        const float c = std::cos(angle);
        const float s = inverse ? -std::sin(angle) : std::sin(angle);
        const float a = tail[2 * k], b = tail[2 * k + 1];
        tail[2 * k] = a * c - b * s;
        tail[2 * k + 1] = a * s + b * c;
    }
}

}  // namespace dsv4::kernels
