// dsv4/kernels/sinkhorn.hpp — the mHC split of mixing logits into pre / post / comb.
//
//   mix: [(2+hc)*hc] logits, scale: [3], base: [(2+hc)*hc]
//   pre[j]  = sigmoid(mix[j]·scale0 + base[j]) + eps
//   post[j] = 2·sigmoid(mix[hc+j]·scale1 + base[hc+j])
//   comb[j][k] = mix[2hc + hc·j + k]·scale2 + base[...]; softmax over k (+eps), then a
//   column normalisation, then (iters-1) rounds of row and column normalisation, each
//   dividing by (sum + eps). comb[j][k] weights input stream j into output stream k.
// Backward (hc_split_sinkhorn_backward): exact reverse mode through the sigmoids, the softmax
// and every normalisation as computed (the forward recomputed with its intermediates kept).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace dsv4::kernels {

inline float sigmoid(float x) noexcept { return 1.0f / (1.0f + std::exp(-x)); }

namespace detail {

// Normalisation steps of the schedule: one of the columns, then (iters − 1) of the rows and
// of the columns in turn. Step t (from 1): odd = columns, even = rows.
inline int sinkhorn_steps(int iters) noexcept { return 1 + 2 * std::max(iters - 1, 0); }

// Step t on comb [hc][hc] in place: each line (a column for odd t, a row for even t) divided
// by (its sum in index order + eps).
inline void sinkhorn_step(float* comb, int hc, int t, float eps) noexcept {
    const int line = t % 2 == 1 ? 1 : hc, elem = t % 2 == 1 ? hc : 1;  // strides
    for (int l = 0; l < hc; ++l) {
        float* c = comb + l * line;
        float s = 0;
        for (int i = 0; i < hc; ++i) s += c[i * elem];
        for (int i = 0; i < hc; ++i) c[i * elem] /= (s + eps);
    }
}

// Reverse of step t: x [hc][hc] is the matrix the step normalised (y = x / (sum + eps) per
// line), grad [hc][hc] holds ∂L/∂y on entry and ∂L/∂x on return:
//   ∂L/∂x_i = (∂L/∂y_i − Σ_m ∂L/∂y_m · y_m) / (sum + eps).
inline void sinkhorn_step_backward(const float* x, float* grad, int hc, int t, float eps) noexcept {
    const int line = t % 2 == 1 ? 1 : hc, elem = t % 2 == 1 ? hc : 1;
    for (int l = 0; l < hc; ++l) {
        const float* xl = x + l * line;
        float* gl = grad + l * line;
        float s = 0;
        for (int i = 0; i < hc; ++i) s += xl[i * elem];
        const float den = s + eps;
        float gy = 0;
        for (int i = 0; i < hc; ++i) gy += gl[i * elem] * (xl[i * elem] / den);
        for (int i = 0; i < hc; ++i) gl[i * elem] = (gl[i * elem] - gy) / den;
    }
}

// comb [hc][hc] from the comb logits z = mix·scale + base ([hc][hc] each): the row softmax
// (+eps), then the schedule's steps. With a trace ([sinkhorn_steps(iters) + 1][hc][hc]),
// trace[0] receives the softmax before +eps and trace[t] the matrix that step t normalises.
inline void sinkhorn_comb(const float* mix, float scale, const float* base, int hc, int iters, float eps, float* comb,
                          float* trace) noexcept {
    for (int j = 0; j < hc; ++j) {
        float* row = comb + j * hc;
        float mx = -INFINITY;
        for (int k = 0; k < hc; ++k) {
            row[k] = mix[j * hc + k] * scale + base[j * hc + k];
            mx = std::max(mx, row[k]);
        }
        float sum = 0;
        for (int k = 0; k < hc; ++k) sum += (row[k] = std::exp(row[k] - mx));
        for (int k = 0; k < hc; ++k) {
            const float p = row[k] / sum;
            if (trace) trace[j * hc + k] = p;
            row[k] = p + eps;
        }
    }
    const int steps = sinkhorn_steps(iters);
    for (int t = 1; t <= steps; ++t) {
        if (trace) std::copy(comb, comb + hc * hc, trace + size_t(t) * size_t(hc * hc));
        sinkhorn_step(comb, hc, t, eps);
    }
}

}  // namespace detail

inline void hc_split_sinkhorn(const float* mix, const float* scale, const float* base, int hc, int iters, float eps,
                              float* pre, float* post, float* comb) noexcept {
    for (int j = 0; j < hc; ++j) {
        pre[j] = sigmoid(mix[j] * scale[0] + base[j]) + eps;
        post[j] = 2.0f * sigmoid(mix[hc + j] * scale[1] + base[hc + j]);
    }
    detail::sinkhorn_comb(mix + 2 * hc, scale[2], base + 2 * hc, hc, iters, eps, comb, nullptr);
}

// Backward of hc_split_sinkhorn for one token. Given dpre [hc], dpost [hc] and dcomb [hc*hc]
// (the forward's layouts), writes dz [(2+hc)*hc] = ∂L/∂z (overwrite) for the logits
// z[i] = mix[i]·scale[segment of i] + base[i] (segments: pre 0..hc, post hc..2hc, comb 2hc..);
// the caller forms dmix = dz·scale, dbase += dz, dscale += Σ dz·mix per segment.
// The comb forward is recomputed keeping every intermediate matrix, then reversed step by
// step (no implicit differentiation: the gradient of the 2·iters − 1 normalisations as run).
// The intermediates, (2·iters + 2)·hc² floats, live on the stack up to 4096 floats (hc = 4:
// iters ≤ 127; hc = 16: iters ≤ 7), beyond that in a buffer kept per thread (allocated on
// first use by that thread; its failure terminates, as in any noexcept function).
inline void hc_split_sinkhorn_backward(const float* mix, const float* scale, const float* base, int hc, int iters, float eps,
                                       const float* dpre, const float* dpost, const float* dcomb, float* dz) noexcept {
    for (int j = 0; j < hc; ++j) {  // σ' = σ(1 − σ); pre = σ + eps, post = 2σ
        const float sp = sigmoid(mix[j] * scale[0] + base[j]);
        dz[j] = dpre[j] * (sp * (1.0f - sp));
        const float sq = sigmoid(mix[hc + j] * scale[1] + base[hc + j]);
        dz[hc + j] = 2.0f * dpost[j] * (sq * (1.0f - sq));
    }
    const int steps = detail::sinkhorn_steps(iters);
    const size_t hh = size_t(hc) * size_t(hc), need = (size_t(steps) + 3) * hh;
    constexpr size_t on_stack = 4096;
    float local[on_stack];
    thread_local std::vector<float> spill;
    float* trace = local;
    if (need > on_stack) {
        if (spill.size() < need) spill.resize(need);
        trace = spill.data();
    }
    float* comb = trace + (size_t(steps) + 1) * hh;  // the forward's result, unused
    float* grad = comb + hh;                          // ∂L/∂(matrix) as the steps are reversed
    detail::sinkhorn_comb(mix + 2 * hc, scale[2], base + 2 * hc, hc, iters, eps, comb, trace);
    std::copy(dcomb, dcomb + hh, grad);
    for (int t = steps; t >= 1; --t) detail::sinkhorn_step_backward(trace + size_t(t) * hh, grad, hc, t, eps);
    // the row softmax (the +eps passes the gradient unchanged): ∂z_k = p_k (∂p_k − Σ_m p_m ∂p_m)
    const float* p = trace;
    float* dzc = dz + 2 * hc;
    for (int j = 0; j < hc; ++j) {
        float s = 0;
        for (int k = 0; k < hc; ++k) s += p[j * hc + k] * grad[j * hc + k];
        for (int k = 0; k < hc; ++k) dzc[j * hc + k] = p[j * hc + k] * (grad[j * hc + k] - s);
    }
}

}  // namespace dsv4::kernels
