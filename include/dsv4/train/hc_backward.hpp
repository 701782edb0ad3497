// dsv4/train/hc_backward.hpp — backward of mHC (nn/hyper_connection.hpp) for S tokens.
//
//   mix[t, i] = (fn_i · x_t) · r_t,  x_t = flat(X_t) [hc·D],  r_t = 1/sqrt(mean(x_t²) + eps)
//   z[t, i]   = mix[t, i] · scale[segment(i)] + base[i]  ->  pre / post / comb (Sinkhorn)
//   hc_pre :  y_t = Σ_j pre_j X_t[j]
//   hc_post:  X'_t[k] = post_k f_t + Σ_j comb[j][k] X_t[j]
//   hc_head:  pre_j = sigmoid(mix_j · scale0 + base_j) + eps;  y_t = Σ_j pre_j X_t[j]
// The mixing is recomputed from X with the forward's own functions (same bits), the unrolled
// Sinkhorn iterations are differentiated by kernels::hc_split_sinkhorn_backward.
#pragma once

#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/context.hpp>
#include <dsv4/kernels/sinkhorn.hpp>
#include <dsv4/nn/hyper_connection.hpp>
#include <dsv4/train/backward_ops.hpp>

namespace dsv4::train {

// The parameters of one mHC site and their gradients (f32, contiguous).
struct hc_site {
    const float* fn;      // [n_mix, hc·D]
    const float* base;    // [n_mix]
    const float* scale;   // [3] (head: [1])
    float* dfn;
    float* dbase;
    float* dscale;
};

// The mixing of one site recomputed from its input streams X [S, hc, D].
struct hc_recomputed {
    fvec mix;               // [S, n_mix]
    nn::hc_mixing mixing;   // pre, post, comb
};

inline hc_recomputed hc_recompute(const context& ctx, const model_shape& s, const hc_site& site, const float* X, size_t S) {
    const size_t hc = size_t(s.hc_mult), n_mix = size_t(s.hc_mix()), width = size_t(s.hc_dim());
    const nn::hc_weights w{{site.fn, n_mix * width}, {site.base, n_mix}, {site.scale, 3}};
    hc_recomputed r;
    r.mix = nn::hc_mix_logits(ctx, s, w, X, S, n_mix);
    r.mixing.pre.resize(S * hc);
    r.mixing.post.resize(S * hc);
    r.mixing.comb.resize(S * hc * hc);
    for (size_t t = 0; t < S; ++t)
        kernels::hc_split_sinkhorn(r.mix.data() + t * n_mix, site.scale, site.base, int(hc), s.hc_sinkhorn_iters,
                                   float(s.hc_eps), r.mixing.pre.data() + t * hc, r.mixing.post.data() + t * hc,
                                   r.mixing.comb.data() + t * hc * hc);
    return r;
}

// Given dXout [S, hc, D] of X' = hc_post(X, f): dX [S, hc, D] (overwritten), df [S, D], and
// dpost [S, hc], dcomb [S, hc, hc] for the mixing's backward.
inline void hc_post_backward(const context& ctx, const model_shape& s, const hc_recomputed& r, const float* X,
                             const float* f, const float* dXout, size_t S, float* dX, float* df, float* dpost,
                             float* dcomb) {
    const size_t D = size_t(s.dim), hc = size_t(s.hc_mult);
    ctx.parallel_for(S, 8, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) {
            const float* comb = r.mixing.comb.data() + t * hc * hc;
            const float* post = r.mixing.post.data() + t * hc;
            const float* g = dXout + t * hc * D;
            float* dft = df + t * D;
            std::fill(dft, dft + D, 0.0f);
            for (size_t k = 0; k < hc; ++k) {
                kernels::axpy(post[k], g + k * D, dft, D);
                dpost[t * hc + k] = kernels::dot(g + k * D, f + t * D, D);
            }
            for (size_t j = 0; j < hc; ++j) {
                float* dXj = dX + (t * hc + j) * D;
                std::fill(dXj, dXj + D, 0.0f);
                for (size_t k = 0; k < hc; ++k) {
                    kernels::axpy(comb[j * hc + k], g + k * D, dXj, D);
                    dcomb[(t * hc + j) * hc + k] = kernels::dot(g + k * D, X + (t * hc + j) * D, D);
                }
            }
        }
    });
}

// Backward of the mixing logits mix = (fn · x) · r given dmix [S, n_mix] (destroyed: scaled by r):
// dfn += (dmix·r)ᵀ · x;  dX += (dmix·r) · fn − x · r²/n · Σ_i dmix_i · mix_i.
inline void hc_mix_backward(const context& ctx, const model_shape& s, const hc_site& site, const float* X,
                            const fvec& mix, float* dmix, size_t S, size_t n_mix, float* dX) {
    const size_t width = size_t(s.hc_dim());
    fvec radial(S);
    for (size_t t = 0; t < S; ++t) {
        const float rt = kernels::rms_inverse(X + t * width, width, float(s.norm_eps));
        float acc = 0;
        for (size_t i = 0; i < n_mix; ++i) acc += dmix[t * n_mix + i] * mix[t * n_mix + i];
        radial[t] = -acc * rt * rt / float(width);
        for (size_t i = 0; i < n_mix; ++i) dmix[t * n_mix + i] *= rt;
    }
    add_weight_gradient(ctx, dmix, n_mix, X, width, S, n_mix, width, site.dfn, width);
    input_gradient(ctx, dmix, n_mix, site.fn, width, S, n_mix, width, 1.0f, dX, width);
    ctx.parallel_for(S, 8, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) kernels::axpy(radial[t], X + t * width, dX + t * width, width);
    });
}

// Given dy [S, D] of y = hc_pre's collapse and dpost, dcomb from hc_post_backward: adds the
// collapse's and the mixing's gradients into dX [S, hc, D] and the site's parameter gradients.
inline void hc_pre_backward(const context& ctx, const model_shape& s, const hc_site& site, const hc_recomputed& r,
                            const float* X, const float* dy, const float* dpost, const float* dcomb, size_t S, float* dX) {
    const size_t D = size_t(s.dim), hc = size_t(s.hc_mult), n_mix = size_t(s.hc_mix());
    fvec dmix(S * n_mix), dz(S * n_mix);
    ctx.parallel_for(S, 8, [&](size_t t0, size_t t1) {
        fvec dpre(hc);
        for (size_t t = t0; t < t1; ++t) {
            for (size_t j = 0; j < hc; ++j) {
                dpre[j] = kernels::dot(dy + t * D, X + (t * hc + j) * D, D);
                kernels::axpy(r.mixing.pre[t * hc + j], dy + t * D, dX + (t * hc + j) * D, D);
            }
            kernels::hc_split_sinkhorn_backward(r.mix.data() + t * n_mix, site.scale, site.base, int(hc), s.hc_sinkhorn_iters,
                                                float(s.hc_eps), dpre.data(), dpost + t * hc, dcomb + t * hc * hc,
                                                dz.data() + t * n_mix);
        }
    });
    // z = mix · scale[segment] + base: segments pre [0, hc), post [hc, 2hc), comb [2hc, n_mix)
    for (size_t t = 0; t < S; ++t)
        for (size_t i = 0; i < n_mix; ++i) {
            const size_t seg = i < hc ? 0 : i < 2 * hc ? 1 : 2;
            const float g = dz[t * n_mix + i];
            site.dbase[i] += g;
            site.dscale[seg] += g * r.mix[t * n_mix + i];
            dmix[t * n_mix + i] = g * site.scale[seg];
        }
    hc_mix_backward(ctx, s, site, X, r.mix, dmix.data(), S, n_mix, dX);
}

// hc_head: y = Σ_j pre_j X[j]; given dy [S, D], dX [S, hc, D] is overwritten.
inline void hc_head_backward(const context& ctx, const model_shape& s, const hc_site& site, const float* X,
                             const float* dy, size_t S, float* dX) {
    const size_t D = size_t(s.dim), hc = size_t(s.hc_mult);
    const nn::hc_weights w{{site.fn, hc * size_t(s.hc_dim())}, {site.base, hc}, {site.scale, 1}};
    const fvec mix = nn::hc_mix_logits(ctx, s, w, X, S, hc);
    fvec dmix(S * hc);
    for (size_t t = 0; t < S; ++t)
        for (size_t j = 0; j < hc; ++j) {
            const float sg = kernels::sigmoid(mix[t * hc + j] * site.scale[0] + site.base[j]);
            const float pre = sg + float(s.hc_eps);
            float* dXj = dX + (t * hc + j) * D;
            kernels::scale_copy(pre, dy + t * D, dXj, D);
            const float dz = kernels::dot(dy + t * D, X + (t * hc + j) * D, D) * sg * (1.0f - sg);
            site.dbase[j] += dz;
            site.dscale[0] += dz * mix[t * hc + j];
            dmix[t * hc + j] = dz * site.scale[0];
        }
    hc_mix_backward(ctx, s, site, X, mix, dmix.data(), S, hc, dX);
}

}  // namespace dsv4::train
