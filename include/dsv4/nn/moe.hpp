// dsv4/nn/moe.hpp — DeepSeekMoE with sqrt-softplus routing, hash routing and a shared expert.
//
//   gate   : s = sqrt(softplus(x · Wgᵀ)) [T, E] (f32); selection = top-k of s + bias, or
//            tid2eid[token] in hash layers; weights = s[idx] / Σ s[idx] · route_scale.
//   expert : h = silu(min(w1 x, L)) · clamp(w3 x, −L, L) · weight; out = w2 h.
//   output : y = Σ over experts in id order of their outputs + shared expert(x) (clamped
//            in the current revision, unclamped in the initial one).
// Tokens are grouped by expert, so each expert's weights are read once per call.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/kernels/swiglu.hpp>
#include <dsv4/kernels/topk.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/nn/trace.hpp>
#include <dsv4/nn/weights.hpp>

namespace dsv4::nn {

struct routing {
    std::vector<int32_t> experts;  // [T, k]
    fvec weights;                  // [T, k]
};

inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

inline routing route(const context& ctx, const model_shape& s, const moe_weights& w, const float* x, size_t T,
                     std::span<const int32_t> ids) {
    const size_t E = size_t(s.n_routed_experts), k = size_t(s.n_activated_experts);
    fvec scores(T * E);
    linear(ctx, x, T, w.gate, scores.data());
    routing r;
    r.experts.resize(T * k);
    r.weights.resize(T * k);
    std::vector<float> biased(E);
    std::vector<int32_t> top;
    for (size_t t = 0; t < T; ++t) {
        float* st = scores.data() + t * E;
        for (size_t e = 0; e < E; ++e) st[e] = std::sqrt(softplus(st[e]));
        if (!w.tid2eid.empty()) {
            top.assign(w.tid2eid.begin() + long(size_t(ids[t]) * k), w.tid2eid.begin() + long((size_t(ids[t]) + 1) * k));
        } else {
            for (size_t e = 0; e < E; ++e) biased[e] = st[e] + w.gate_bias[e];
            kernels::topk_indices(biased.data(), int(E), int(k), top);
        }
        float sum = 0;
        for (size_t j = 0; j < k; ++j) sum += st[top[j]];
        for (size_t j = 0; j < k; ++j) {
            r.experts[t * k + j] = top[j];
            r.weights[t * k + j] = st[top[j]] / sum * float(s.route_scale);
        }
    }
    return r;
}

// out[T', D] = expert(x rows) with per-row weights (nullptr: weight 1).
inline void expert_forward(const context& ctx, const model_shape& s, const expert_weights& w, const float* x, size_t T,
                           const float* row_weights, float limit, float* out) {
    const size_t I = size_t(s.moe_inter_dim);
    fvec g(T * I), u(T * I);
    linear(ctx, x, T, w.w1, g.data());
    linear(ctx, x, T, w.w3, u.data());
    for (size_t t = 0; t < T; ++t)
        kernels::swiglu(g.data() + t * I, u.data() + t * I, I, limit, row_weights ? row_weights[t] : 1.0f);
    linear(ctx, g.data(), T, w.w2, out);
}

inline void moe_forward(const context& ctx, const model_shape& s, const moe_weights& w, bool shared_clamp,
                        const float* x, size_t T, std::span<const int32_t> ids, float* y, const std::string& name,
                        trace* tr) {
    const size_t D = size_t(s.dim), E = size_t(s.n_routed_experts), k = size_t(s.n_activated_experts);
    const routing r = route(ctx, s, w, x, T, ids);
    if (tr) {
        tr->add(name + ".gate_indices", r.experts);
        tr->add(name + ".gate_weights", r.weights.data(), r.weights.size());
    }
    std::fill(y, y + T * D, 0.0f);
    // group (token, weight) pairs by expert, tokens in order
    std::vector<std::vector<std::pair<int32_t, float>>> by_expert(E);
    for (size_t t = 0; t < T; ++t)
        for (size_t j = 0; j < k; ++j) by_expert[size_t(r.experts[t * k + j])].push_back({int32_t(t), r.weights[t * k + j]});
    fvec xe, we, oe;
    for (size_t e = 0; e < E; ++e) {
        const auto& list = by_expert[e];
        if (list.empty()) continue;
        const size_t n = list.size();
        xe.resize(n * D);
        we.resize(n);
        oe.resize(n * D);
        for (size_t i = 0; i < n; ++i) {
            std::copy(x + size_t(list[i].first) * D, x + size_t(list[i].first + 1) * D, xe.begin() + long(i * D));
            we[i] = list[i].second;
        }
        expert_forward(ctx, s, w.experts[e], xe.data(), n, we.data(), float(s.swiglu_limit), oe.data());
        for (size_t i = 0; i < n; ++i) {
            float* yt = y + size_t(list[i].first) * D;
            for (size_t c = 0; c < D; ++c) yt[c] += oe[i * D + c];
        }
    }
    fvec sh(T * D);
    expert_forward(ctx, s, w.shared, x, T, nullptr, shared_clamp ? float(s.swiglu_limit) : 0.0f, sh.data());
    for (size_t i = 0; i < T * D; ++i) y[i] += sh[i];
}

}  // namespace dsv4::nn
