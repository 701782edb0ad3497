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
#include <dsv4/nn/saved.hpp>
#include <dsv4/nn/trace.hpp>
#include <dsv4/nn/weights.hpp>

namespace dsv4::nn {

struct routing {
    std::vector<int32_t> experts;  // [T, k]
    fvec weights;                  // [T, k]
};

inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

inline routing route(const context& ctx, const model_shape& s, const moe_weights& w, const float* x, size_t T,
                     std::span<const int32_t> ids, const std::vector<int32_t>* forced = nullptr,
                     moe_saved* sv = nullptr) {
    const size_t E = size_t(s.n_routed_experts), k = size_t(s.n_activated_experts);
    fvec scores(T * E);
    linear(ctx, x, T, w.gate, scores.data());
    if (sv) sv->logits = scores;
    if (forced && forced->size() != T * k)
        fail("route: forced experts hold ", forced->size(), " ids, expected ", T * k, " (tokens x n_activated_experts)");
    routing r;
    r.experts.resize(T * k);
    r.weights.resize(T * k);
    std::vector<float> biased(E);
    std::vector<int32_t> top;
    for (size_t t = 0; t < T; ++t) {
        float* st = scores.data() + t * E;
        for (size_t e = 0; e < E; ++e) st[e] = std::sqrt(softplus(st[e]));
        if (!w.tid2eid.empty()) {  // hash layers keep their table (forced routing is for score-routed ones)
            top.assign(w.tid2eid.begin() + long(size_t(ids[t]) * k), w.tid2eid.begin() + long((size_t(ids[t]) + 1) * k));
        } else {
            for (size_t e = 0; e < E; ++e) biased[e] = st[e] + w.gate_bias[e];
            kernels::topk_indices(biased.data(), int(E), int(k), top);
        }
        if (forced && w.tid2eid.empty()) {
            top.assign(forced->begin() + long(t * k), forced->begin() + long((t + 1) * k));
            for (int32_t e : top)
                if (e < 0 || size_t(e) >= E) fail("route: forced expert ", e, " of token ", t, " is not in [0, ", E, ")");
        }
        float sum = 0;
        for (size_t j = 0; j < k; ++j) sum += st[top[j]];
        for (size_t j = 0; j < k; ++j) {
            r.experts[t * k + j] = top[j];
            r.weights[t * k + j] = st[top[j]] / sum * float(s.route_scale);
        }
    }
    if (sv) {
        sv->scores = std::move(scores);
        sv->experts = r.experts;
        sv->weights = r.weights;
    }
    return r;
}

// All experts of a call (routed ones with their token groups, then the shared one) run as
// one pool of row tiles in two parallel waves: (1) gate/up rows + SwiGLU, (2) down-projection
// rows. Each output element is one fixed-order dot product on one thread, and the expert
// outputs are added in expert-id order, so the result does not depend on the thread count.
inline void moe_forward(const context& ctx, const model_shape& s, const moe_weights& w, bool shared_clamp,
                        const float* x, size_t T, std::span<const int32_t> ids, float* y, const std::string& name,
                        trace* tr, const std::vector<int32_t>* forced = nullptr, moe_saved* sv = nullptr) {
    const size_t D = size_t(s.dim), E = size_t(s.n_routed_experts), k = size_t(s.n_activated_experts);
    const size_t I = size_t(s.moe_inter_dim);
    const routing r = route(ctx, s, w, x, T, ids, forced, sv);
    if (tr) {
        tr->add(name + ".gate_indices", r.experts, {k});
        tr->add(name + ".gate_weights", r.weights.data(), T, {k});
    }
    struct job {
        const expert_weights* weights;
        std::vector<int32_t> tokens;  // empty for the shared expert (all tokens)
        fvec row_weight, xe, h, out;
        float limit;
        size_t n;
        const float* input() const { return xe_shared != nullptr ? xe_shared : xe.data(); }
        const float* xe_shared = nullptr;  // the input rows read in place (shared expert; a one-row expert at T = 1)
        kernels::rounded_row h_rounded;    // h rounded once for w2 (decode with quantize_activations)
        const kernels::rounded_row* h_round = nullptr;
    };
    std::vector<job> jobs;
    {
        struct assignment {
            int32_t token, slot;
            float weight;
        };
        std::vector<std::vector<assignment>> by_expert(E);
        for (size_t t = 0; t < T; ++t)
            for (size_t j = 0; j < k; ++j)
                by_expert[size_t(r.experts[t * k + j])].push_back({int32_t(t), int32_t(j), r.weights[t * k + j]});
        if (sv) {
            sv->rows.clear();
            for (size_t e = 0; e < E; ++e) {
                if (by_expert[e].empty()) continue;
                moe_saved::expert_rows er;
                er.expert = int(e);
                for (const auto& a : by_expert[e]) {
                    er.tokens.push_back(a.token);
                    er.slots.push_back(a.slot);
                }
                sv->rows.push_back(std::move(er));
            }
            moe_saved::expert_rows shared_rows;
            for (size_t t = 0; t < T; ++t) shared_rows.tokens.push_back(int32_t(t));
            sv->rows.push_back(std::move(shared_rows));
        }
        for (size_t e = 0; e < E; ++e) {
            if (by_expert[e].empty()) continue;
            job jb;
            jb.weights = &w.experts[e];
            jb.limit = float(s.swiglu_limit);
            jb.n = by_expert[e].size();
            // one token, one row: read x in place (a hash row naming an expert twice gives it 2 rows)
            const bool in_place = T == 1 && jb.n == 1;
            if (in_place) jb.xe_shared = x;
            else jb.xe.resize(jb.n * D);
            for (size_t i = 0; i < jb.n; ++i) {
                jb.tokens.push_back(by_expert[e][i].token);
                jb.row_weight.push_back(by_expert[e][i].weight);
                if (!in_place)
                    std::copy(x + size_t(by_expert[e][i].token) * D, x + size_t(by_expert[e][i].token + 1) * D,
                              jb.xe.begin() + long(i * D));
            }
            jobs.push_back(std::move(jb));
        }
        job sh;
        sh.weights = &w.shared;
        sh.limit = shared_clamp ? float(s.swiglu_limit) : 0.0f;
        sh.n = T;
        sh.xe_shared = x;
        jobs.push_back(std::move(sh));
    }
    for (size_t j = 0; j < jobs.size(); ++j) {
        jobs[j].h.resize(jobs[j].n * I);
        jobs[j].out.resize(jobs[j].n * D);
        if (sv) {
            sv->rows[j].gate.resize(jobs[j].n * I);
            sv->rows[j].up.resize(jobs[j].n * I);
        }
    }
    // decode: the token's input rounded once for every expert (model_options::quantize_activations)
    kernels::rounded_row x_rounded;
    const kernels::rounded_row* x_round = nullptr;
    if (T == 1) {
        std::vector<const kernels::linear_weight*> gate_up;
        for (const auto& jb : jobs) gate_up.insert(gate_up.end(), {&jb.weights->w1, &jb.weights->w3});
        x_round = round_once(x, 1, gate_up, x_rounded);
    }
    // wave 1: rows [i0, i1) of w1 and w3 for one job, then SwiGLU on those columns
    const size_t tile1 = std::min<size_t>(I, 128), tiles1 = (I + tile1 - 1) / tile1;
    ctx.parallel_for(jobs.size() * tiles1, 1, [&](size_t a, size_t b) {
        thread_local fvec g, u, scratch;
        for (size_t task = a; task < b; ++task) {
            job& jb = jobs[task / tiles1];
            const size_t i0 = (task % tiles1) * tile1, i1 = std::min(I, i0 + tile1), n = jb.n, cols = i1 - i0;
            g.resize(n * cols);
            u.resize(n * cols);
            scratch.resize(D);
            kernels::linear_rows(jb.input(), D, n, jb.weights->w1, i0, i1, g.data(), cols, scratch.data(), x_round);
            kernels::linear_rows(jb.input(), D, n, jb.weights->w3, i0, i1, u.data(), cols, scratch.data(), x_round);
            if (sv) {  // each task writes its own columns of the job's rows
                auto& er = sv->rows[task / tiles1];
                for (size_t t = 0; t < n; ++t) {
                    std::copy(g.begin() + long(t * cols), g.begin() + long((t + 1) * cols), er.gate.begin() + long(t * I + i0));
                    std::copy(u.begin() + long(t * cols), u.begin() + long((t + 1) * cols), er.up.begin() + long(t * I + i0));
                }
            }
            for (size_t t = 0; t < n; ++t) {
                kernels::swiglu(g.data() + t * cols, u.data() + t * cols, cols, jb.limit,
                                jb.tokens.empty() ? 1.0f : jb.row_weight[t]);
                std::copy(g.begin() + long(t * cols), g.begin() + long((t + 1) * cols), jb.h.begin() + long(t * I + i0));
            }
        }
    });
    for (auto& jb : jobs) {
        const kernels::linear_weight* const down[] = {&jb.weights->w2};
        jb.h_round = round_once(jb.h.data(), jb.n, down, jb.h_rounded);
    }
    // wave 2: rows [d0, d1) of w2 for one job
    const size_t tile2 = std::min<size_t>(D, 256), tiles2 = (D + tile2 - 1) / tile2;
    ctx.parallel_for(jobs.size() * tiles2, 1, [&](size_t a, size_t b) {
        thread_local fvec scratch;
        for (size_t task = a; task < b; ++task) {
            job& jb = jobs[task / tiles2];
            const size_t d0 = (task % tiles2) * tile2, d1 = std::min(D, d0 + tile2);
            scratch.resize(I);
            kernels::linear_rows(jb.h.data(), I, jb.n, jb.weights->w2, d0, d1, jb.out.data() + d0, D, scratch.data(),
                                 jb.h_round);
        }
    });
    // sum in a fixed order: routed experts by id, then the shared expert
    std::fill(y, y + T * D, 0.0f);
    for (size_t j = 0; j + 1 < jobs.size(); ++j) {
        const job& jb = jobs[j];
        for (size_t i = 0; i < jb.n; ++i) {
            float* yt = y + size_t(jb.tokens[i]) * D;
            const float* o = jb.out.data() + i * D;
            for (size_t c = 0; c < D; ++c) yt[c] += o[c];
        }
    }
    const fvec& sh = jobs.back().out;
    for (size_t i = 0; i < T * D; ++i) y[i] += sh[i];
}

}  // namespace dsv4::nn
