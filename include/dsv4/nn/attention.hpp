// dsv4/nn/attention.hpp — V4 attention over a chunk of S tokens at positions start..start+S-1.
//
//   q path : qr = q_norm(wq_a x) [S, q_lora]; q = wq_b qr [S, H, d]; per-head weightless
//            RMS norm; RoPE on each head's last rope_dim dims.
//   kv path: kv = kv_norm(wkv x) [S, d] (one head, key = value); RoPE on its tail.
//   rows   : window positions max(0, t-W+1)..t (from this chunk or the ring), then
//            compressed entries: HCA all i with (i+1)r-1 <= t; CSA the indexer's top-k.
//   core   : softmax with the sink logit in the denominator (kernels/attention.hpp).
//   out    : inverse RoPE at the query position; per group g, u_g = wo_a[g] · o_g
//            (heads g*H/G.. contiguous); y = wo_b · u.
// Compressed entries are appended before the core runs (visibility rule keeps causality);
// the ring is written after it, so queries of this chunk still see older ring slots.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/kernels/attention.hpp>
#include <dsv4/kernels/hadamard.hpp>
#include <dsv4/kernels/indexer_score.hpp>
#include <dsv4/kernels/rope.hpp>
#include <dsv4/kernels/topk.hpp>
#include <dsv4/nn/compressor.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/nn/saved.hpp>
#include <dsv4/nn/trace.hpp>
#include <dsv4/nn/weights.hpp>
#include <dsv4/nn/sequence_state.hpp>

namespace dsv4::nn {

struct attention_setup {
    const model_shape* shape = nullptr;
    attention_kind kind = attention_kind::window;
    int ratio = 0;                      // compress ratio r (0 for a window layer)
    const float* rope_freqs = nullptr;  // this layer kind's table
    std::string name;                   // "layers.3" (trace names)
    bool dense_indexer = false;         // CSA attends to every visible entry (indexer warm-up, nn/saved.hpp)
};

// CSA: the compressed entries each query selects (ascending ids), from the lightning indexer.
// x-side inputs (computed with the layer's other projections): hw = weights_proj(x) [S, ih],
// K/Z = the indexer compressor's wkv/wgate(x); q = wq_b(qr) [S, ih, id].
inline std::vector<std::vector<int32_t>> indexer_select(const context& ctx, const attention_setup& as,
                                                        const indexer_weights& w, layer_state& st, fvec& q, fvec& hw,
                                                        const float* K, const float* Z, const fvec& rope_c,
                                                        const fvec& rope_s, size_t S, int64_t start, trace* tr,
                                                        attention_saved* sv = nullptr) {
    const model_shape& s = *as.shape;
    const size_t ih = size_t(s.index_n_heads), id = size_t(s.index_head_dim), rd = size_t(s.rope_head_dim);
    for (size_t t = 0; t < S; ++t)
        for (size_t h = 0; h < ih; ++h) {
            float* qh = q.data() + (t * ih + h) * id;
            kernels::apply_rope(qh + id - rd, rope_c.data() + t * rd / 2, rope_s.data() + t * rd / 2, int(rd));
            kernels::hadamard_inplace(qh, id);
        }
    compressor_setup cs{int(rd), as.rope_freqs, float(s.norm_eps), true};
    compress_tokens(w.compressor, cs, st.index_compressor, K, Z, S, start, st.index_keys);
    const float wscale = float(1.0 / std::sqrt(double(id)) / std::sqrt(double(ih)));
    for (auto& v : hw) v *= wscale;

    // scores[t][i] = Σ_h w[t,h] · relu(q[t,h] · k_i). Per query and tile of entries, the keys
    // stream once through a register-blocked kernel against the query's [id x ih] heads
    // (packed once, 32 KB: L1), fused with the weighted ReLU sum (kernels/indexer_score.hpp);
    // without it (head counts that are not 16, 32, 48 or 64, or no AVX-512), the keys go
    // through linear_rows as activation rows, then the sum. Work is
    // split over entry tiles (decode) or queries (prefill); each score is one fixed-order
    // computation, so the split does not change it.
    std::vector<std::vector<float>> scores(S);
    for (size_t t = 0; t < S; ++t) scores[t].resize(size_t((start + int64_t(t) + 1) / as.ratio));
    const bool fused = kernels::indexer_scores_available(ih);
    fvec q_packed(fused ? S * ih * id : 0);
    for (size_t t = 0; t < S && fused; ++t) kernels::pack_indexer_query(q.data() + t * ih * id, ih, id, q_packed.data() + t * ih * id);
    const size_t tile = 512;
    size_t tiles_per_query = 0;
    for (size_t t = 0; t < S; ++t) tiles_per_query = std::max(tiles_per_query, (scores[t].size() + tile - 1) / tile);
    ctx.parallel_for(S * tiles_per_query, 1, [&](size_t a, size_t b) {
        thread_local fvec dots, scratch;
        for (size_t task = a; task < b; ++task) {
            const size_t t = task / tiles_per_query, i0 = (task % tiles_per_query) * tile;
            const size_t n_valid = scores[t].size();
            if (i0 >= n_valid) continue;
            const size_t i1 = std::min(n_valid, i0 + tile), n = i1 - i0;
            const float* keys = st.index_keys.data() + i0 * id;
            if (fused) {
                kernels::indexer_scores(keys, n, id, q_packed.data() + t * ih * id, ih, hw.data() + t * ih, scores[t].data() + i0);
                continue;
            }
            kernels::linear_weight heads;
            heads.format = weight_format::f32;
            heads.data = q.data() + t * ih * id;
            heads.out = ih;
            heads.in = id;
            dots.resize(n * ih);
            scratch.resize(id);
            kernels::linear_rows(keys, id, n, heads, 0, ih, dots.data(), ih, scratch.data());
            kernels::weighted_relu_sum(dots.data(), n, ih, hw.data() + t * ih, scores[t].data() + i0);
        }
    });
    std::vector<std::vector<int32_t>> selected(S);
    const size_t T = size_t(ctx.threads()), k = size_t(s.index_topk);
    if (sv) {
        sv->qi.assign(q.begin(), q.end());
        sv->hw.assign(hw.begin(), hw.end());
        sv->index_scores = scores;
    }
    if (as.dense_indexer) {
        for (size_t t = 0; t < S; ++t) {
            selected[t].resize(scores[t].size());
            for (size_t i = 0; i < scores[t].size(); ++i) selected[t][i] = int32_t(i);
        }
    } else if (S == 1 && T > 1 && scores[0].size() >= 4 * T * k) {
        // decode: the threads select the best k of their part of a long list, then the best k
        // of those (the same set: see kernels::best_rank_keys)
        const size_t n = scores[0].size();
        std::vector<std::vector<uint64_t>> part(T);
        ctx.parallel_for(T, 1, [&](size_t p0, size_t p1) {
            for (size_t p = p0; p < p1; ++p) {
                const size_t i0 = n * p / T, i1 = n * (p + 1) / T;
                kernels::best_rank_keys(scores[0].data() + i0, int(i1 - i0), int(k), int(i0), part[p]);
            }
        });
        std::vector<uint64_t> merged;
        for (const auto& keys : part) merged.insert(merged.end(), keys.begin(), keys.end());
        kernels::indices_of_best_ascending(merged, int(k), selected[0]);
    } else {
        ctx.parallel_for(S, 1, [&](size_t t0, size_t t1) {
            for (size_t t = t0; t < t1; ++t)
                kernels::topk_indices_ascending(scores[t].data(), int(scores[t].size()), int(k), selected[t]);
        });
    }
    if (tr) {  // fixed width index_topk, ascending ids, -1 padded (the reference's layout)
        for (size_t t = 0; t < S; ++t) {
            std::vector<int32_t> row(size_t(s.index_topk), -1);
            std::copy(selected[t].begin(), selected[t].end(), row.begin());
            tr->add(as.name + ".indexer_topk", row, {size_t(s.index_topk)});
        }
    }
    return selected;
}

// y: [S, D] = attention(x: [S, D]) for the chunk; updates the layer state.
inline void attention_forward(const context& ctx, const attention_setup& as, const attention_weights& w,
                              layer_state& st, const float* x, size_t S, int64_t start, float* y, trace* tr,
                              attention_saved* sv = nullptr) {
    const model_shape& s = *as.shape;
    const size_t H = size_t(s.n_heads), d = size_t(s.head_dim), rd = size_t(s.rope_head_dim), W = size_t(s.window_size);
    // cos/sin of each token's position, shared by q, kv, the indexer's q and the output de-rotation
    fvec rope_c(S * rd / 2), rope_s(S * rd / 2);
    for (size_t t = 0; t < S; ++t)
        kernels::rope_cos_sin(as.rope_freqs, int(rd), start + int64_t(t), rope_c.data() + t * rd / 2, rope_s.data() + t * rd / 2);
    const float eps = float(s.norm_eps);

    // every projection of x in one parallel region, then every projection of qr in another
    fvec qr(S * w.wq_a.out), kv(S * d);
    fvec ck, cz, ik, iz, hw;
    const size_t ckw = w.has_compressor ? w.compressor.wkv.out : 0, ikw = w.has_indexer ? w.indexer.compressor.wkv.out : 0;
    ck.resize(S * ckw);
    cz.resize(S * ckw);
    ik.resize(S * ikw);
    iz.resize(S * ikw);
    hw.resize(S * (w.has_indexer ? w.indexer.weights_proj.out : 0));
    static const kernels::linear_weight none{};
    linear_many(ctx, x, S,
                {{&w.wq_a, qr.data()},
                 {&w.wkv, kv.data()},
                 {w.has_compressor ? &w.compressor.wkv : &none, ck.data()},
                 {w.has_compressor ? &w.compressor.wgate : &none, cz.data()},
                 {w.has_indexer ? &w.indexer.compressor.wkv : &none, ik.data()},
                 {w.has_indexer ? &w.indexer.compressor.wgate : &none, iz.data()},
                 {w.has_indexer ? &w.indexer.weights_proj : &none, hw.data()}});
    if (sv) sv->qr_raw = qr;
    rmsnorm_rows(qr.data(), S, w.wq_a.out, w.q_norm.data(), eps);
    if (sv) sv->qr = qr;
    fvec q(S * H * d), qi(S * (w.has_indexer ? w.indexer.wq_b.out : 0));
    linear_many(ctx, qr.data(), S, {{&w.wq_b, q.data()}, {w.has_indexer ? &w.indexer.wq_b : &none, qi.data()}});
    if (sv) {
        sv->q_raw = q;
        sv->kv_raw = kv;
        sv->ck = ck;
        sv->cz = cz;
        sv->ik = ik;
        sv->iz = iz;
    }
    for (size_t t = 0; t < S; ++t)
        for (size_t h = 0; h < H; ++h) {
            float* qh = q.data() + (t * H + h) * d;
            kernels::rmsnorm(qh, nullptr, qh, d, eps);
            kernels::apply_rope(qh + d - rd, rope_c.data() + t * rd / 2, rope_s.data() + t * rd / 2, int(rd));
        }
    rmsnorm_rows(kv.data(), S, d, w.kv_norm.data(), eps);
    for (size_t t = 0; t < S; ++t)
        kernels::apply_rope(kv.data() + t * d + d - rd, rope_c.data() + t * rd / 2, rope_s.data() + t * rd / 2, int(rd));

    if (sv) {
        sv->q = q;
        sv->kv = kv;
    }
    std::vector<std::vector<int32_t>> csa;
    if (as.kind == attention_kind::csa)
        csa = indexer_select(ctx, as, w.indexer, st, qi, hw, ik.data(), iz.data(), rope_c, rope_s, S, start, tr, sv);
    if (as.kind != attention_kind::window) {
        compressor_setup cs{int(rd), as.rope_freqs, eps, false};
        compress_tokens(w.compressor, cs, st.compressor, ck.data(), cz.data(), S, start, st.compressed);
    }

    // attention core: one task per (query, head); the heads of a query share its row list
    fvec o(S * H * d);
    const float scale = float(1.0 / std::sqrt(double(d)));
    auto rows_of = [&](size_t t, std::vector<const float*>& rows) {
        const int64_t pos = start + int64_t(t);
        rows.clear();
        for (int64_t p = std::max<int64_t>(0, pos - int64_t(W) + 1); p <= pos; ++p)
            rows.push_back(p >= start ? kv.data() + size_t(p - start) * d : st.window.data() + size_t(p % int64_t(W)) * d);
        if (as.kind == attention_kind::csa) {
            for (int32_t i : csa[t]) rows.push_back(st.compressed.data() + size_t(i) * d);
        } else if (as.kind == attention_kind::hca) {
            const int64_t visible = (pos + 1) / as.ratio;
            for (int64_t i = 0; i < visible; ++i) rows.push_back(st.compressed.data() + size_t(i) * d);
        }
    };
    // tasks of (query, group of heads): decode splits a query's heads over the threads (whole
    // blocks of 4), prefill gives each task a whole query; a group reads each of its rows from
    // far memory once per pass for all its heads
    const size_t T = size_t(ctx.threads());
    const size_t group = std::max<size_t>(1, S == 1 ? std::min(H, std::max<size_t>(4, (H + 4 * T - 1) / (4 * T) * 4)) : H),
                 groups = (H + group - 1) / group;
    ctx.parallel_for(S * groups, 1, [&](size_t a, size_t b) {
        std::vector<const float*> rows;
        std::vector<float> scratch;
        size_t rows_for = SIZE_MAX;
        for (size_t task = a; task < b; ++task) {
            const size_t t = task / groups, h0 = (task % groups) * group, g = std::min(group, H - h0);
            if (t != rows_for) {
                rows_of(t, rows);
                rows_for = t;
            }
            scratch.resize(g * (rows.size() + 1));
            float* ot = o.data() + (t * H + h0) * d;
            kernels::attend_heads_with_sink(q.data() + (t * H + h0) * d, d, g, rows.data(), rows.size(), d, scale,
                                            w.sink.data() + h0, scratch.data(), ot, d);
            for (size_t h = 0; h < g; ++h)
                kernels::apply_rope(ot + h * d + d - rd, rope_c.data() + t * rd / 2, rope_s.data() + t * rd / 2, int(rd), true);
        }
    });

    // ring write: the last min(S, W) tokens of the chunk
    for (size_t t = S > W ? S - W : 0; t < S; ++t) {
        const int64_t p = start + int64_t(t);
        std::copy(kv.begin() + long(t * d), kv.begin() + long((t + 1) * d), st.window.begin() + long(size_t(p % int64_t(W)) * d));
    }

    // grouped output projection
    const size_t G = size_t(s.o_groups), R = size_t(s.o_lora_rank), gin = size_t(s.group_in_dim());
    fvec u(S * G * R);
    // decode: each group's slice of o rounded once (model_options::quantize_activations)
    std::vector<kernels::rounded_row> o_rounded(S == 1 ? G : 0);
    std::vector<const kernels::rounded_row*> o_round(G, nullptr);
    for (size_t g = 0; g < o_rounded.size(); ++g) {
        const kernels::linear_weight* const wo_a[] = {&w.wo_a};
        o_round[g] = round_once(o.data() + g * gin, S, wo_a, o_rounded[g]);
    }
    ctx.parallel_for(G * R, std::max<size_t>(1, R / 4), [&](size_t n0, size_t n1) {
        thread_local fvec scratch;
        if (scratch.size() < gin) scratch.resize(gin);
        // rows n of wo_a belong to group n / R and read that group's slice of o
        size_t n = n0;
        while (n < n1) {
            const size_t g = n / R, end = std::min(n1, (g + 1) * R);
            kernels::linear_rows(o.data() + g * gin, H * d, S, w.wo_a, n, end, u.data() + n, G * R, scratch.data(), o_round[g]);
            n = end;
        }
    });
    linear(ctx, u.data(), S, w.wo_b, y);
    if (sv) {
        sv->selected = csa;
        sv->o = o;
        sv->u = u;
        sv->compressed = st.compressed;
        sv->index_keys = st.index_keys;
    }
    if (tr) tr->add(as.name + ".attn_out", y, S, {size_t(s.dim)});
}

}  // namespace dsv4::nn
