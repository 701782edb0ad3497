// dsv4/train/training_step.hpp — the V4 training loss of a batch of documents and its exact
// gradient with respect to every parameter (docs/spec/TRAINING.md §1–§4).
//
//   L = L_main + λ·L_mtp + α·Σ_layers L_bal + Σ_CSA layers L_I
//   L_main: mean over the batch's predicted positions of −log p(ids[t+1]);  L_mtp: the MTP
//   block's, mean over positions t ≤ T−3 predicting ids[t+2];  L_bal: per score-routed layer
//   (MTP included), mean over documents;  L_I: per CSA layer, mean over the batch's queries
//   with a non-empty set.
//
// Each document runs alone (positions from 0, its own compressors: §2) through the model's
// own forward with training hooks (nn/saved.hpp) — so its logits are the inference logits —
// then backward, block by block in reverse; gradients of the documents add up in document
// order. The head's cross-entropy runs a vocabulary chunk at a time (no [T, V] matrix).
// Activation memory is one document's saved forward (docs/TRAINING.md gives the formula).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>
#include <dsv4/error.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/nn/saved.hpp>
#include <dsv4/train/attention_backward.hpp>
#include <dsv4/train/backward_ops.hpp>
#include <dsv4/train/hc_backward.hpp>
#include <dsv4/train/moe_backward.hpp>
#include <dsv4/train/parameters.hpp>

namespace dsv4::train {

struct training_options {
    double mtp_weight = 0.3;       // λ (0.1 from the start of learning-rate decay)
    double balance_weight = 1e-4;  // α
    double indexer_weight = 1.0;
    bool indexer_warmup = false;   // CSA attends densely; L_I over every visible block (§3.4)
    // Anticipatory Routing (§10): per document, per block (layers then MTP blocks), the [T, k]
    // expert ids to use (empty: the block's own top-k). Null: every block routes itself.
    const std::vector<std::vector<std::vector<int32_t>>>* forced_experts = nullptr;
};

struct loss_terms {
    double main = 0, mtp = 0, balance = 0, indexer = 0, total = 0;
};

struct step_result {
    loss_terms loss;
    // per block (layers, then MTP blocks): the batch's (token, slot) assignments per routed
    // expert — the loads of the bias rule (§9); per document and block: the experts used [T, k]
    std::vector<std::vector<int64_t>> expert_loads;
    std::vector<std::vector<std::vector<int32_t>>> routing;
};

// The training forward of one document (positions from 0, its own compressors): the model's
// forward, then its MTP block on streams 0..T-2 and ids 1..T-1, with the hooks keeping what
// the backward needs. Logits are left to the loss (head_rows, head_logits).
struct document_pass {
    nn::training_hooks hooks;
    xt::xtensor<float, 3> hidden;      // [T, hc, D] the main streams before hc_head
    xt::xtensor<float, 3> mtp_hidden;  // [T-1, hc, D] the MTP block's (empty: no MTP block or T < 3)
};

inline document_pass training_forward(const model_core& model, std::span<const int32_t> ids, bool indexer_warmup = false,
                                      const std::vector<std::vector<int32_t>>* forced_experts = nullptr) {
    const model_shape& sh = model.shape();
    const size_t T = ids.size(), hc = size_t(sh.hc_mult), D = size_t(sh.dim);
    document_pass d;
    d.hooks.dense_indexer = indexer_warmup;
    if (forced_experts) d.hooks.forced_experts = *forced_experts;
    sequence_state seq = model.new_sequence(int64_t(T));
    d.hidden = std::move(model.forward(seq, ids, {.keep_hidden = true, .training = &d.hooks, .compute_logits = false}).hidden);
    if (sh.n_mtp_layers > 0 && T > 2) {
        auto prefix = xt::xtensor<float, 3>::from_shape({T - 1, hc, D});
        std::copy(d.hidden.data(), d.hidden.data() + prefix.size(), prefix.data());
        d.mtp_hidden = std::move(model.mtp_forward(seq, prefix, ids.subspan(1),
                                                   {.keep_hidden = true, .training = &d.hooks, .compute_logits = false})
                                     .hidden);
    }
    return d;
}

// The head's input rows of streams X [S, hc, D]: norm(hc_head(X)) of the main model
// (block −1) or of MTP block n_layers + m, as model_core's head computes them (the same
// functions, so the same bits). `pre_norm` receives hc_head(X) when given.
inline fvec head_rows(const model_core& model, int block, const float* X, size_t S, fvec* pre_norm = nullptr) {
    const model_shape& sh = model.shape();
    const size_t D = size_t(sh.dim);
    const auto& w = model.weights();
    const bool main = block < sh.n_layers;
    const nn::hc_weights& hcw = main ? w.hc_head : w.mtp[size_t(block - sh.n_layers)].hc_head;
    const nn::float_span norm = main ? w.norm : w.mtp[size_t(block - sh.n_layers)].norm;
    fvec y(S * D);
    nn::hc_head(model.ctx(), sh, hcw, X, S, y.data());
    if (pre_norm) *pre_norm = y;
    nn::rmsnorm_rows(y.data(), S, D, norm.data(), float(sh.norm_eps));
    return y;
}

// Logits of the vocabulary rows [v0, v1) for head-input rows y [M, D]: out [M, v1 − v0].
// Each logit is the inference kernel's fixed-order dot product, whatever the chunking.
inline void head_logits(const model_core& model, const float* y, size_t M, size_t v0, size_t v1, float* out) {
    const kernels::linear_weight& head = model.weights().head;
    const size_t n = v1 - v0, D = head.in;
    model.ctx().parallel_for(n, 32, [&](size_t a, size_t b) {
        thread_local fvec scratch;
        if (scratch.size() < D) scratch.resize(D);
        kernels::linear_rows(y, D, M, head, v0 + a, v0 + b, out + a, n, scratch.data());
    });
}

namespace detail {

// Cross-entropy of rows y [M, D] (normalised) against targets (−1: no target), logits
// y · headᵀ computed a vocabulary chunk at a time with the inference kernel (the same bits as
// model_core's logits). Returns Σ −log p(target); writes dy = coef · ∂/∂y, adds coef · ∂/∂head.
inline double cross_entropy(const model_core& model, const float* head, float* dhead, const float* y,
                            const std::vector<int32_t>& targets, double coef, float* dy) {
    const context& ctx = model.ctx();
    const size_t M = targets.size(), V = model.weights().head.out, D = model.weights().head.in;
    const size_t chunk = std::min<size_t>(V, 4096);
    std::vector<double> mx(M, -INFINITY), sum(M, 0.0), target_logit(M, 0.0);
    fvec logits(M * chunk);
    auto chunk_logits = [&](size_t v0, size_t v1) { head_logits(model, y, M, v0, v1, logits.data()); };
    // pass 1: log-sum-exp per row, online over chunks
    for (size_t v0 = 0; v0 < V; v0 += chunk) {
        const size_t v1 = std::min(V, v0 + chunk), n = v1 - v0;
        chunk_logits(v0, v1);
        ctx.parallel_for(M, 8, [&](size_t m0, size_t m1) {
            for (size_t m = m0; m < m1; ++m) {
                const float* l = logits.data() + m * n;
                double cm = mx[m];
                for (size_t v = 0; v < n; ++v) cm = std::max(cm, double(l[v]));
                double s = sum[m] * std::exp(mx[m] - cm);
                for (size_t v = 0; v < n; ++v) s += std::exp(double(l[v]) - cm);
                mx[m] = cm;
                sum[m] = s;
                if (targets[m] >= int32_t(v0) && targets[m] < int32_t(v1)) target_logit[m] = l[size_t(targets[m]) - v0];
            }
        });
    }
    double loss = 0;
    for (size_t m = 0; m < M; ++m)
        if (targets[m] >= 0) loss += mx[m] + std::log(sum[m]) - target_logit[m];
    // pass 2: dlogits = coef · (softmax − onehot), rows without a target 0
    std::fill(dy, dy + M * D, 0.0f);
    for (size_t v0 = 0; v0 < V; v0 += chunk) {
        const size_t v1 = std::min(V, v0 + chunk), n = v1 - v0;
        chunk_logits(v0, v1);
        ctx.parallel_for(M, 8, [&](size_t m0, size_t m1) {
            for (size_t m = m0; m < m1; ++m) {
                float* l = logits.data() + m * n;
                if (targets[m] < 0) {
                    std::fill(l, l + n, 0.0f);
                    continue;
                }
                const double lse = mx[m] + std::log(sum[m]);
                for (size_t v = 0; v < n; ++v) l[v] = float(coef * std::exp(double(l[v]) - lse));
                if (targets[m] >= int32_t(v0) && targets[m] < int32_t(v1)) l[size_t(targets[m]) - v0] -= float(coef);
            }
        });
        input_gradient(ctx, logits.data(), n, head + v0 * D, D, M, n, D, 1.0f, dy, D);
        add_weight_gradient(ctx, logits.data(), n, y, D, M, n, D, dhead + v0 * D, D);
    }
    return loss;
}

inline hc_site head_site(const parameters& p, parameters& g, int block) {
    return {p.data(tensor_id::hc_head_fn, block), p.data(tensor_id::hc_head_base, block),
            p.data(tensor_id::hc_head_scale, block), g.data(tensor_id::hc_head_fn, block),
            g.data(tensor_id::hc_head_base, block), g.data(tensor_id::hc_head_scale, block)};
}

// Loss of the head on streams X [S, hc, D] (hc_head of `block`, its norm, the shared head)
// and dX [S, hc, D] (overwritten).
inline double head_backward(const model_core& model, const parameters& p, parameters& g, int block, const float* X,
                            const std::vector<int32_t>& targets, double coef, float* dX) {
    const model_shape& sh = model.shape();
    const context& ctx = model.ctx();
    const size_t S = targets.size(), D = size_t(sh.dim);
    fvec y;
    const fvec yn = head_rows(model, block, X, S, &y);
    fvec dy(S * D);
    const double loss = cross_entropy(model, p.data(tensor_id::head), g.data(tensor_id::head), yn.data(), targets, coef,
                                      dy.data());
    const float* norm = p.data(tensor_id::norm, block < sh.n_layers ? -1 : block);
    rmsnorm_rows_backward(ctx, y.data(), norm, dy.data(), dy.data(), g.data(tensor_id::norm, block < sh.n_layers ? -1 : block),
                          S, D, float(sh.norm_eps));
    hc_head_backward(ctx, sh, head_site(p, g, block < sh.n_layers ? -1 : block), X, dy.data(), S, dX);
    return loss;
}

inline compressor_params compressor_of(const parameters& p, parameters& g, int b, bool indexer) {
    using T = tensor_id;
    const T wkv = indexer ? T::indexer_compressor_wkv : T::compressor_wkv,
            wgate = indexer ? T::indexer_compressor_wgate : T::compressor_wgate,
            ape = indexer ? T::indexer_compressor_ape : T::compressor_ape,
            norm = indexer ? T::indexer_compressor_norm : T::compressor_norm;
    return {p.data(wkv, b), p.data(wgate, b), p.data(ape, b), p.data(norm, b),
            g.data(wkv, b), g.data(wgate, b), g.data(ape, b), g.data(norm, b)};
}

inline attention_params attention_of(const model_shape& sh, const parameters& p, parameters& g, int b) {
    using T = tensor_id;
    attention_params a;
    a.wq_a = p.data(T::wq_a, b), a.dwq_a = g.data(T::wq_a, b);
    a.q_norm = p.data(T::q_norm, b), a.dq_norm = g.data(T::q_norm, b);
    a.wq_b = p.data(T::wq_b, b), a.dwq_b = g.data(T::wq_b, b);
    a.wkv = p.data(T::wkv, b), a.dwkv = g.data(T::wkv, b);
    a.kv_norm = p.data(T::kv_norm, b), a.dkv_norm = g.data(T::kv_norm, b);
    a.wo_a = p.data(T::wo_a, b), a.dwo_a = g.data(T::wo_a, b);
    a.wo_b = p.data(T::wo_b, b), a.dwo_b = g.data(T::wo_b, b);
    a.sink = p.data(T::attn_sink, b), a.dsink = g.data(T::attn_sink, b);
    if (sh.has_compressor(b)) a.compressor = compressor_of(p, g, b, false);
    if (sh.has_indexer(b)) {
        a.index_wq_b = p.data(T::indexer_wq_b, b);
        a.index_weights_proj = p.data(T::indexer_weights_proj, b);
        a.dindex_wq_b = g.data(T::indexer_wq_b, b);
        a.dindex_weights_proj = g.data(T::indexer_weights_proj, b);
        a.index_compressor = compressor_of(p, g, b, true);
    }
    return a;
}

inline moe_params moe_of(const model_core& model, const parameters& p, parameters& g, int b) {
    using T = tensor_id;
    const model_shape& sh = model.shape();
    moe_params m;
    m.gate = p.data(T::gate, b);
    m.dgate = g.data(T::gate, b);
    for (int e = 0; e < sh.n_routed_experts; ++e)
        m.experts.push_back({p.data(T::expert_w1, b, e), p.data(T::expert_w2, b, e), p.data(T::expert_w3, b, e),
                             g.data(T::expert_w1, b, e), g.data(T::expert_w2, b, e), g.data(T::expert_w3, b, e)});
    m.shared = {p.data(T::shared_w1, b), p.data(T::shared_w2, b), p.data(T::shared_w3, b),
                g.data(T::shared_w1, b), g.data(T::shared_w2, b), g.data(T::shared_w3, b)};
    m.score_routed = !sh.is_hash_layer(b);
    m.shared_clamped = model.shared_expert_clamped();
    return m;
}

struct block_losses {
    double balance = 0, indexer = 0;
};

// One block (main layer or MTP block b) in reverse: dX [S, hc, D] from the block's output
// gradient to its input gradient, in place.
inline block_losses block_backward(const model_core& model, const parameters& p, parameters& g, int b,
                                   const nn::block_saved& sv, size_t S, double balance_weight, double indexer_weight,
                                   fvec& dX) {
    using T = tensor_id;
    const model_shape& sh = model.shape();
    const context& ctx = model.ctx();
    const size_t D = size_t(sh.dim), hc = size_t(sh.hc_mult);
    const float eps = float(sh.norm_eps);
    block_losses out;
    fvec dX_in(S * hc * D), df(S * D), dpost(S * hc), dcomb(S * hc * hc), xn(S * D), dxn(S * D);

    // MoE half
    const hc_site ffn{p.data(T::hc_ffn_fn, b), p.data(T::hc_ffn_base, b), p.data(T::hc_ffn_scale, b),
                      g.data(T::hc_ffn_fn, b), g.data(T::hc_ffn_base, b), g.data(T::hc_ffn_scale, b)};
    auto rec = hc_recompute(ctx, sh, ffn, sv.x_mid.data(), S);
    hc_post_backward(ctx, sh, rec, sv.x_mid.data(), sv.ffn_out.data(), dX.data(), S, dX_in.data(), df.data(), dpost.data(),
                     dcomb.data());
    xn = sv.ffn_in;
    nn::rmsnorm_rows(xn.data(), S, D, p.data(T::ffn_norm, b), eps);
    out.balance = moe_backward(ctx, sh, moe_of(model, p, g, b), sv.moe, xn.data(), df.data(), S, balance_weight, dxn.data());
    rmsnorm_rows_backward(ctx, sv.ffn_in.data(), p.data(T::ffn_norm, b), dxn.data(), dxn.data(), g.data(T::ffn_norm, b), S,
                          D, eps);
    hc_pre_backward(ctx, sh, ffn, rec, sv.x_mid.data(), dxn.data(), dpost.data(), dcomb.data(), S, dX_in.data());

    // attention half
    const hc_site attn{p.data(T::hc_attn_fn, b), p.data(T::hc_attn_base, b), p.data(T::hc_attn_scale, b),
                       g.data(T::hc_attn_fn, b), g.data(T::hc_attn_base, b), g.data(T::hc_attn_scale, b)};
    rec = hc_recompute(ctx, sh, attn, sv.x_in.data(), S);
    hc_post_backward(ctx, sh, rec, sv.x_in.data(), sv.attn_out.data(), dX_in.data(), S, dX.data(), df.data(), dpost.data(),
                     dcomb.data());
    xn = sv.attn_in;
    nn::rmsnorm_rows(xn.data(), S, D, p.data(T::attn_norm, b), eps);
    const attention_layer layer{sh.kind(b), sh.ratio(b), model.rope_table(sh.has_compressor(b)).data(), indexer_weight};
    out.indexer = attention_backward(ctx, sh, layer, attention_of(sh, p, g, b), sv.attn, xn.data(), df.data(), S, dxn.data());
    rmsnorm_rows_backward(ctx, sv.attn_in.data(), p.data(T::attn_norm, b), dxn.data(), dxn.data(), g.data(T::attn_norm, b),
                          S, D, eps);
    hc_pre_backward(ctx, sh, attn, rec, sv.x_in.data(), dxn.data(), dpost.data(), dcomb.data(), S, dX.data());
    return out;
}

// Queries of a document of S tokens with a non-empty compressed set in a CSA layer of ratio r.
inline size_t indexed_queries(size_t S, int r) { return S + 1 > size_t(r) ? S + 1 - size_t(r) : 0; }

}  // namespace detail

// The loss of the batch and its gradient: `grads` (parameters::zeros_like(p) or a running sum)
// receives ∂L/∂θ for every gradient-trained parameter (gate.bias and tid2eid get none).
// `model` must run on `p` (train::make_model). Documents need at least 2 tokens.
inline step_result forward_backward(const model_core& model, const parameters& p,
                                    std::span<const std::vector<int32_t>> documents, const training_options& opt,
                                    parameters& grads) {
    const model_shape& sh = model.shape();
    const context& ctx = model.ctx();
    const size_t D = size_t(sh.dim), hc = size_t(sh.hc_mult), hcD = hc * D;
    const int L = sh.n_layers, blocks = sh.n_layers + sh.n_mtp_layers;
    if (documents.empty()) fail("forward_backward: no documents in the batch");
    if (opt.forced_experts && opt.forced_experts->size() != documents.size())
        fail("forward_backward: forced_experts holds ", opt.forced_experts->size(), " documents, the batch ",
             documents.size());
    // batch-wide normalisers: every document's targets and queries
    size_t n_main = 0, n_mtp = 0;
    std::vector<size_t> n_queries(size_t(blocks), 0);
    for (size_t i = 0; i < documents.size(); ++i) {
        const size_t T = documents[i].size();
        if (T < 2) fail("forward_backward: document ", i, " has ", T, " tokens, expected at least 2");
        n_main += T - 1;
        if (sh.n_mtp_layers > 0) n_mtp += T > 2 ? T - 2 : 0;
        for (int b = 0; b < blocks; ++b)
            if (sh.has_indexer(b)) n_queries[size_t(b)] += detail::indexed_queries(b < L ? T : T - 1, sh.ratio(b));
    }
    step_result res;
    res.expert_loads.assign(size_t(blocks), std::vector<int64_t>(size_t(sh.n_routed_experts), 0));
    const double balance_weight = opt.balance_weight / double(documents.size());
    double main_sum = 0, mtp_sum = 0;

    for (size_t di = 0; di < documents.size(); ++di) {
        const std::vector<int32_t>& ids = documents[di];
        const size_t T = ids.size();
        document_pass pass = training_forward(model, ids, opt.indexer_warmup,
                                              opt.forced_experts ? &(*opt.forced_experts)[di] : nullptr);
        const nn::training_hooks& hooks = pass.hooks;
        const xt::xtensor<float, 3>& X = pass.hidden;  // [T, hc, D]
        const bool with_mtp = pass.mtp_hidden.size() > 0;
        // routing record and loads
        res.routing.emplace_back(size_t(blocks));
        for (int b = 0; b < blocks; ++b) {
            if (size_t(b) >= hooks.blocks.size() || hooks.blocks[size_t(b)].moe.experts.empty()) continue;
            const auto& ex = hooks.blocks[size_t(b)].moe.experts;
            res.routing.back()[size_t(b)] = ex;
            for (int32_t e : ex) ++res.expert_loads[size_t(b)][size_t(e)];
        }

        fvec dX(T * hcD, 0.0f);
        fvec dembed_mtp;
        if (with_mtp) {
            const int b = L;  // the first MTP block (depth 1: TRAINING.md §3.2)
            const size_t S = T - 1;
            std::vector<int32_t> targets(S, -1);
            for (size_t t = 0; t + 2 < T; ++t) targets[t] = ids[t + 2];
            fvec dXm(S * hcD);
            mtp_sum += detail::head_backward(model, p, grads, b, pass.mtp_hidden.data(), targets,
                                             opt.mtp_weight / double(n_mtp), dXm.data());
            const auto bl = detail::block_backward(model, p, grads, b, hooks.blocks[size_t(b)], S, balance_weight,
                                                   n_queries[size_t(b)] ? opt.indexer_weight / double(n_queries[size_t(b)]) : 0.0, dXm);
            res.loss.balance += bl.balance / double(documents.size());
            res.loss.indexer += bl.indexer;
            // x = e_proj(enorm(embed[ids[t+1]])) (broadcast to the streams) + h_proj(hnorm(X[t]))
            using TI = tensor_id;
            const float eps = float(sh.norm_eps);
            // the embedding rows the MTP block read (ids 1..T-1), gathered once: enorm's input
            fvec emb(S * D), e, de(S * D), dep(S * D, 0.0f), hn(S * hcD), dhn(S * hcD);
            for (size_t t = 0; t < S; ++t) {
                const float* row = p.data(TI::embed) + size_t(ids[t + 1]) * D;
                std::copy(row, row + D, emb.begin() + long(t * D));
                for (size_t j = 0; j < hc; ++j) kernels::axpy(1.0f, dXm.data() + (t * hc + j) * D, dep.data() + t * D, D);
            }
            e = emb;
            nn::rmsnorm_rows(e.data(), S, D, p.data(TI::mtp_enorm, b), eps);
            std::copy(X.data(), X.data() + S * hcD, hn.begin());
            nn::rmsnorm_rows(hn.data(), S * hc, D, p.data(TI::mtp_hnorm, b), eps);
            linear_backward(ctx, e.data(), dep.data(), S, D, D, p.data(TI::mtp_e_proj, b), grads.data(TI::mtp_e_proj, b),
                            de.data(), false);
            linear_backward(ctx, hn.data(), dXm.data(), S * hc, D, D, p.data(TI::mtp_h_proj, b),
                            grads.data(TI::mtp_h_proj, b), dhn.data(), false);
            rmsnorm_rows_backward(ctx, X.data(), p.data(TI::mtp_hnorm, b), dhn.data(), dhn.data(),
                                  grads.data(TI::mtp_hnorm, b), S * hc, D, eps);
            std::copy(dhn.begin(), dhn.end(), dX.begin());
            rmsnorm_rows_backward(ctx, emb.data(), p.data(TI::mtp_enorm, b), de.data(), de.data(),
                                  grads.data(TI::mtp_enorm, b), S, D, eps);
            dembed_mtp = std::move(de);
        }
        {
            std::vector<int32_t> targets(T, -1);
            for (size_t t = 0; t + 1 < T; ++t) targets[t] = ids[t + 1];
            fvec dXh(T * hcD);
            main_sum += detail::head_backward(model, p, grads, -1, X.data(), targets, 1.0 / double(n_main), dXh.data());
            for (size_t i = 0; i < dX.size(); ++i) dX[i] += dXh[i];
        }
        for (int b = L - 1; b >= 0; --b) {
            const auto bl = detail::block_backward(model, p, grads, b, hooks.blocks[size_t(b)], T, balance_weight,
                                                   n_queries[size_t(b)] ? opt.indexer_weight / double(n_queries[size_t(b)]) : 0.0, dX);
            res.loss.balance += bl.balance / double(documents.size());
            res.loss.indexer += bl.indexer;
        }
        // embedding: every stream of token t is its row; the MTP block reads row ids[t+1]
        float* dembed = grads.data(tensor_id::embed);
        for (size_t t = 0; t < T; ++t) {
            float* row = dembed + size_t(ids[t]) * D;
            for (size_t j = 0; j < hc; ++j) kernels::axpy(1.0f, dX.data() + (t * hc + j) * D, row, D);
        }
        for (size_t t = 0; t + 1 < T && !dembed_mtp.empty(); ++t)
            kernels::axpy(1.0f, dembed_mtp.data() + t * D, dembed + size_t(ids[t + 1]) * D, D);
    }
    res.loss.main = main_sum / double(n_main);
    res.loss.mtp = n_mtp ? mtp_sum / double(n_mtp) : 0.0;
    res.loss.total = res.loss.main + opt.mtp_weight * res.loss.mtp + opt.balance_weight * res.loss.balance + res.loss.indexer;
    return res;
}

}  // namespace dsv4::train
