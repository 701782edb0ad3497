// dsv4/kernels/sinkhorn.hpp — the mHC split of mixing logits into pre / post / comb.
//
//   mix: [(2+hc)*hc] logits, scale: [3], base: [(2+hc)*hc]
//   pre[j]  = sigmoid(mix[j]·scale0 + base[j]) + eps
//   post[j] = 2·sigmoid(mix[hc+j]·scale1 + base[hc+j])
//   comb[j][k] = mix[2hc + hc·j + k]·scale2 + base[...]; softmax over k (+eps), then a
//   column normalisation, then (iters-1) rounds of row and column normalisation, each
//   dividing by (sum + eps). comb[j][k] weights input stream j into output stream k.
#pragma once

#include <algorithm>
#include <cmath>

namespace dsv4::kernels {

inline float sigmoid(float x) noexcept { return 1.0f / (1.0f + std::exp(-x)); }

inline void hc_split_sinkhorn(const float* mix, const float* scale, const float* base, int hc, int iters, float eps,
                              float* pre, float* post, float* comb) noexcept {
    for (int j = 0; j < hc; ++j) {
        pre[j] = sigmoid(mix[j] * scale[0] + base[j]) + eps;
        post[j] = 2.0f * sigmoid(mix[hc + j] * scale[1] + base[hc + j]);
    }
    const int off = 2 * hc;
    for (int j = 0; j < hc; ++j) {
        float* row = comb + j * hc;
        float mx = -INFINITY;
        for (int k = 0; k < hc; ++k) {
            row[k] = mix[off + j * hc + k] * scale[2] + base[off + j * hc + k];
            mx = std::max(mx, row[k]);
        }
        float sum = 0;
        for (int k = 0; k < hc; ++k) sum += (row[k] = std::exp(row[k] - mx));
        for (int k = 0; k < hc; ++k) row[k] = row[k] / sum + eps;
    }
    auto normalise_columns = [&] {
        for (int k = 0; k < hc; ++k) {
            float s = 0;
            for (int j = 0; j < hc; ++j) s += comb[j * hc + k];
            for (int j = 0; j < hc; ++j) comb[j * hc + k] /= (s + eps);
        }
    };
    normalise_columns();
    for (int it = 1; it < iters; ++it) {
        for (int j = 0; j < hc; ++j) {
            float s = 0;
            for (int k = 0; k < hc; ++k) s += comb[j * hc + k];
            for (int k = 0; k < hc; ++k) comb[j * hc + k] /= (s + eps);
        }
        normalise_columns();
    }
}

}  // namespace dsv4::kernels
