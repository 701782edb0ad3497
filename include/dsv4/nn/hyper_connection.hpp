// dsv4/nn/hyper_connection.hpp — mHC: the hc residual streams around each sub-layer.
//
//   X: [S, hc, D] streams of S tokens.
//   hc_pre : mix = (fn · flat(X_t)) · rsqrt(mean(X_t²) + norm_eps)  -> pre, post, comb (Sinkhorn)
//            y_t = Σ_j pre_j X_t[j]                                  -> [S, D]
//   hc_post: X'_t[k] = post_k · f_t + Σ_j comb[j][k] · X_t[j]
//   hc_head: pre_j = sigmoid(mix_j · scale0 + base_j) + hc_eps; y_t = Σ_j pre_j X_t[j]
#pragma once

#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/kernels/simd.hpp>
#include <dsv4/kernels/sinkhorn.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/nn/weights.hpp>
#include <dsv4/context.hpp>

namespace dsv4::nn {

struct hc_mixing {
    fvec post;  // [S, hc]
    fvec comb;  // [S, hc, hc]
    fvec pre;   // [S, hc]
};

// Mixing logits of every token: mix[t, i] = (fn[i] · X_t) · r_t.
inline fvec hc_mix_logits(const context& ctx, const model_shape& s, const hc_weights& w, const float* X, size_t S,
                          size_t n_mix) {
    const size_t width = size_t(s.hc_dim());
    fvec mix(S * n_mix);
    ctx.parallel_for(S, 1, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) {
            const float* x = X + t * width;
            const float r = kernels::rms_inverse(x, width, float(s.norm_eps));
            for (size_t i = 0; i < n_mix; ++i) mix[t * n_mix + i] = kernels::dot(w.fn.data() + i * width, x, width) * r;
        }
    });
    return mix;
}

// y_t = Σ_j pre[t, j] X_t[j]
inline void hc_collapse(const model_shape& s, const float* X, const float* pre, size_t S, float* y) {
    const size_t D = size_t(s.dim), hc = size_t(s.hc_mult);
    for (size_t t = 0; t < S; ++t) {
        float* yt = y + t * D;
        std::fill(yt, yt + D, 0.0f);
        for (size_t j = 0; j < hc; ++j) kernels::axpy(pre[t * hc + j], X + (t * hc + j) * D, yt, D);
    }
}

inline hc_mixing hc_pre(const context& ctx, const model_shape& s, const hc_weights& w, const float* X, size_t S,
                        float* y) {
    const int hc = s.hc_mult;
    const size_t n_mix = size_t(s.hc_mix());
    const fvec mix = hc_mix_logits(ctx, s, w, X, S, n_mix);
    hc_mixing m;
    m.pre.resize(S * size_t(hc));
    m.post.resize(S * size_t(hc));
    m.comb.resize(S * size_t(hc * hc));
    for (size_t t = 0; t < S; ++t)
        kernels::hc_split_sinkhorn(mix.data() + t * n_mix, w.scale.data(), w.base.data(), hc, s.hc_sinkhorn_iters,
                                   float(s.hc_eps), m.pre.data() + t * size_t(hc), m.post.data() + t * size_t(hc),
                                   m.comb.data() + t * size_t(hc * hc));
    hc_collapse(s, X, m.pre.data(), S, y);
    return m;
}

// X ← post ⊗ f + combᵀ · X, per token.
inline void hc_post(const model_shape& s, const hc_mixing& m, const float* f, float* X, size_t S) {
    const size_t D = size_t(s.dim), hc = size_t(s.hc_mult);
    fvec out(hc * D);
    for (size_t t = 0; t < S; ++t) {
        float* Xt = X + t * hc * D;
        const float* comb = m.comb.data() + t * hc * hc;
        for (size_t k = 0; k < hc; ++k) {
            float* o = out.data() + k * D;
            kernels::scale_copy(m.post[t * hc + k], f + t * D, o, D);
            for (size_t j = 0; j < hc; ++j) kernels::axpy(comb[j * hc + k], Xt + j * D, o, D);
        }
        std::copy(out.begin(), out.end(), Xt);
    }
}

inline void hc_head(const context& ctx, const model_shape& s, const hc_weights& w, const float* X, size_t S, float* y) {
    const size_t hc = size_t(s.hc_mult);
    const fvec mix = hc_mix_logits(ctx, s, w, X, S, hc);
    fvec pre(S * hc);
    for (size_t t = 0; t < S; ++t)
        for (size_t j = 0; j < hc; ++j)
            pre[t * hc + j] = kernels::sigmoid(mix[t * hc + j] * w.scale[0] + w.base[j]) + float(s.hc_eps);
    hc_collapse(s, X, pre.data(), S, y);
}

}  // namespace dsv4::nn
