// dsv4/train/moe_backward.hpp — backward of the MoE (nn/moe.hpp) and the sequence-wise
// balance loss (docs/spec/TRAINING.md §3.3, §4.1, §4.2) for one document of S tokens.
//
//   expert rows (n tokens): g = X w1ᵀ, u = X w3ᵀ, h = weight · silu(min(g, L)) · clamp(u), out = h w2ᵀ
//   router: s = sqrt(softplus(x gateᵀ)) [S, E]; weights w_j = s[e_j] / Σ_sel s · route_scale
//   balance (score-routed): f_i = E/(kS) · #{t: i selected},  P_i = mean_t s[t,i] / Σ_e s[t,e],
//            L = Σ_i f_i P_i  (f constant; the gradient flows through P)
// Expert selections are held fixed; each token's input gradient sums its experts' rows in
// slot order, then the shared expert's, so the result does not depend on the thread count.
#pragma once

#include <cmath>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/context.hpp>
#include <dsv4/kernels/swiglu.hpp>
#include <dsv4/nn/saved.hpp>
#include <dsv4/train/backward_ops.hpp>

namespace dsv4::train {

struct expert_params {
    const float *w1, *w2, *w3;
    float *dw1, *dw2, *dw3;
};

struct moe_params {
    const float* gate;                  // [E, D]
    float* dgate;
    std::vector<expert_params> experts;  // routed, by id
    expert_params shared;
    bool score_routed = true;           // false: hash layer (no balance loss)
    bool shared_clamped = true;
};

// Σ_i f_i P_i of one document and, when `weight` != 0, weight · ∂L/∂s added into ds [S, E].
inline double balance_loss(const model_shape& sh, const nn::moe_saved& sv, size_t S, double weight, float* ds) {
    const size_t E = size_t(sh.n_routed_experts), k = size_t(sh.n_activated_experts);
    std::vector<double> f(E, 0.0);
    for (size_t i = 0; i < S * k; ++i) f[size_t(sv.experts[i])] += double(E) / double(k * S);
    double loss = 0;
    for (size_t t = 0; t < S; ++t) {
        const float* st = sv.scores.data() + t * E;
        double sum = 0, fs = 0;
        for (size_t e = 0; e < E; ++e) sum += st[e];
        for (size_t e = 0; e < E; ++e) fs += f[e] * st[e];
        loss += fs / sum / double(S);
        if (weight == 0) continue;
        // s'_e = s_e / Σ s;  ∂/∂s_e Σ_i f_i s'_i = (f_e − Σ_i f_i s'_i) / Σ s
        for (size_t e = 0; e < E; ++e) ds[t * E + e] += float(weight / double(S) * (f[e] - fs / sum) / sum);
    }
    return loss;
}

// Given df [S, D] (gradient of the MoE output) and x [S, D] (its normalised input): writes
// dx [S, D], adds the parameter gradients; `balance_weight` (α / documents) scales the
// balance loss of a score-routed layer, whose value is returned (0 for a hash layer).
inline double moe_backward(const context& ctx, const model_shape& sh, const moe_params& p, const nn::moe_saved& sv,
                           const float* x, const float* df, size_t S, double balance_weight, float* dx) {
    const size_t D = size_t(sh.dim), E = size_t(sh.n_routed_experts), k = size_t(sh.n_activated_experts),
                 I = size_t(sh.moe_inter_dim);
    const float limit = float(sh.swiglu_limit);
    fvec dweight(S * k, 0.0f);
    // per expert rows: dX rows kept until the per-token gather below
    std::vector<fvec> dX_rows(sv.rows.size());
    for (size_t r = 0; r < sv.rows.size(); ++r) {
        const auto& er = sv.rows[r];
        const bool shared = er.expert < 0;
        const expert_params& ep = shared ? p.shared : p.experts[size_t(er.expert)];
        const size_t n = er.tokens.size();
        const float lim = shared ? (p.shared_clamped ? limit : 0.0f) : limit;
        fvec Xe(n * D), dO(n * D), H(n * I), dH(n * I), dG(n * I), dU(n * I);
        for (size_t i = 0; i < n; ++i) {
            const size_t t = size_t(er.tokens[i]);
            std::copy(x + t * D, x + (t + 1) * D, Xe.begin() + long(i * D));
            std::copy(df + t * D, df + (t + 1) * D, dO.begin() + long(i * D));
            const float wt = shared ? 1.0f : sv.weights[t * k + size_t(er.slots[i])];
            std::copy(er.gate.begin() + long(i * I), er.gate.begin() + long((i + 1) * I), H.begin() + long(i * I));
            kernels::swiglu(H.data() + i * I, er.up.data() + i * I, I, lim, wt);
        }
        add_weight_gradient(ctx, dO.data(), D, H.data(), I, n, D, I, ep.dw2, I);
        input_gradient(ctx, dO.data(), D, ep.w2, I, n, D, I, 0.0f, dH.data(), I);
        for (size_t i = 0; i < n; ++i) {
            const size_t t = size_t(er.tokens[i]);
            const float wt = shared ? 1.0f : sv.weights[t * k + size_t(er.slots[i])];
            const float dw = kernels::swiglu_backward(er.gate.data() + i * I, er.up.data() + i * I, dH.data() + i * I, I,
                                                      lim, wt, dG.data() + i * I, dU.data() + i * I);
            if (!shared) dweight[t * k + size_t(er.slots[i])] = dw;
        }
        add_weight_gradient(ctx, dG.data(), I, Xe.data(), D, n, I, D, ep.dw1, D);
        add_weight_gradient(ctx, dU.data(), I, Xe.data(), D, n, I, D, ep.dw3, D);
        dX_rows[r].resize(n * D);
        input_gradient(ctx, dG.data(), I, ep.w1, D, n, I, D, 0.0f, dX_rows[r].data(), D);
        input_gradient(ctx, dU.data(), I, ep.w3, D, n, I, D, 1.0f, dX_rows[r].data(), D);
    }
    // where each (token, slot) row sits
    std::vector<std::pair<int32_t, int32_t>> row_of(S * k, {-1, -1});
    for (size_t r = 0; r + 1 < sv.rows.size(); ++r)
        for (size_t i = 0; i < sv.rows[r].tokens.size(); ++i)
            row_of[size_t(sv.rows[r].tokens[i]) * k + size_t(sv.rows[r].slots[i])] = {int32_t(r), int32_t(i)};
    const fvec& shared_dx = dX_rows.back();
    ctx.parallel_for(S, 8, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) {
            float* d = dx + t * D;
            std::fill(d, d + D, 0.0f);
            for (size_t j = 0; j < k; ++j) {
                const auto [r, i] = row_of[t * k + j];
                for (size_t c = 0; c < D; ++c) d[c] += dX_rows[size_t(r)][size_t(i) * D + c];
            }
            for (size_t c = 0; c < D; ++c) d[c] += shared_dx[t * D + c];
        }
    });

    // router: w_j = rs · s_j / Σ_sel s  ->  ∂L/∂s_m = rs/Σ (dw_m − Σ_j dw_j w_j / rs)
    fvec ds(S * E, 0.0f);
    const float rs = float(sh.route_scale);
    for (size_t t = 0; t < S; ++t) {
        const float* st = sv.scores.data() + t * E;
        float sum = 0, dot = 0;
        for (size_t j = 0; j < k; ++j) sum += st[sv.experts[t * k + j]];
        for (size_t j = 0; j < k; ++j) dot += dweight[t * k + j] * sv.weights[t * k + j];
        for (size_t j = 0; j < k; ++j) ds[t * E + size_t(sv.experts[t * k + j])] += rs / sum * (dweight[t * k + j] - dot / rs);
    }
    const double balance = p.score_routed ? balance_loss(sh, sv, S, balance_weight, ds.data()) : 0.0;
    // s = sqrt(softplus(z)):  ds/dz = sigmoid(z) / (2 s)
    for (size_t i = 0; i < S * E; ++i) {
        const float z = sv.logits[i];
        ds[i] *= (1.0f / (1.0f + std::exp(-z))) / (2.0f * sv.scores[i]);
    }
    add_weight_gradient(ctx, ds.data(), E, x, D, S, E, D, p.dgate, D);
    input_gradient(ctx, ds.data(), E, p.gate, D, S, E, D, 1.0f, dx, D);
    return balance;
}

}  // namespace dsv4::train
