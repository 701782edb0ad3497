// dsv4/runtime/sampling.hpp — next-token choice exactly as the reference's generate.py:
// temperature 0 is argmax (lowest id on ties); otherwise p = softmax(logits / max(T, 1e-5))
// in f32 and the token is argmax(p / E) with E ~ Exponential(1) i.i.d. (the Gumbel-max
// form of a multinomial draw). The generator is the caller's, so runs are reproducible.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace dsv4 {

inline int32_t argmax(const float* logits, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return int32_t(best);
}

inline int32_t sample_token(const float* logits, size_t n, float temperature, std::mt19937_64& rng) {
    if (temperature <= 0.0f) return argmax(logits, n);
    const float t = std::max(temperature, 1e-5f);
    float mx = -INFINITY;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, logits[i] / t);
    std::vector<float> p(n);
    float sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (p[i] = std::exp(logits[i] / t - mx));
    std::exponential_distribution<float> exp1(1.0f);
    size_t best = 0;
    float best_v = -1;
    for (size_t i = 0; i < n; ++i) {
        const float v = (p[i] / sum) / exp1(rng);
        if (v > best_v) {
            best_v = v;
            best = i;
        }
    }
    return int32_t(best);
}

}  // namespace dsv4
