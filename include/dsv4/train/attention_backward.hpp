// dsv4/train/attention_backward.hpp — backward of V4 attention (nn/attention.hpp) for one
// document of S tokens at positions 0..S-1, with the compressors and the lightning indexer's
// KL loss (docs/spec/TRAINING.md §3.4, §4.2).
//
//   out     : y = wo_b u, u_g = wo_a[g] o_g            -> dwo_b, dwo_a, do (then RoPE undone)
//   core    : per (query, head) kernels::attend_with_sink_backward -> dq, dsink, and per row
//             its coefficients; a KV row's gradient is then gathered over the queries that
//             read it (window: t in [p, p+W); compressed: the queries that attend to it).
//   q / kv  : RoPE undone, per-head RMS norm, wq_b, q_norm, wq_a; kv_norm, wkv
//   entries : RoPE (and the indexer's Hadamard) undone, norm, gated pooling (kernels/
//             softmax_pool.hpp) -> compressor wkv / wgate / ape / norm
//   indexer : KL(p ‖ softmax(I)) over each query's set S_t, p = the heads' attention mass on
//             S_t (detached); reaches only the indexer's wq_b, weights_proj and compressor
//             (its inputs x and qr are detached).
// Every gradient of a shared row is gathered in a fixed order (queries ascending), so results
// do not depend on the thread count.
#pragma once

#include <cmath>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/context.hpp>
#include <dsv4/kernels/attention.hpp>
#include <dsv4/kernels/hadamard.hpp>
#include <dsv4/kernels/indexer_score.hpp>
#include <dsv4/kernels/softmax_pool.hpp>
#include <dsv4/nn/saved.hpp>
#include <dsv4/train/backward_ops.hpp>

namespace dsv4::train {

struct compressor_params {
    const float *wkv = nullptr, *wgate = nullptr, *ape = nullptr, *norm = nullptr;
    float *dwkv = nullptr, *dwgate = nullptr, *dape = nullptr, *dnorm = nullptr;
};

struct attention_params {
    const float *wq_a = nullptr, *q_norm = nullptr, *wq_b = nullptr, *wkv = nullptr, *kv_norm = nullptr,
                *wo_a = nullptr, *wo_b = nullptr, *sink = nullptr;
    float *dwq_a = nullptr, *dq_norm = nullptr, *dwq_b = nullptr, *dwkv = nullptr, *dkv_norm = nullptr,
          *dwo_a = nullptr, *dwo_b = nullptr, *dsink = nullptr;
    compressor_params compressor;                  // CSA and HCA
    const float* index_wq_b = nullptr;             // CSA: [ih·id, q_lora]
    const float* index_weights_proj = nullptr;     // CSA: [ih, D]
    float *dindex_wq_b = nullptr, *dindex_weights_proj = nullptr;
    compressor_params index_compressor;
};

struct attention_layer {
    attention_kind kind = attention_kind::window;
    int ratio = 0;
    const float* rope_freqs = nullptr;  // the layer kind's table (model_core::rope_table)
    double indexer_weight = 0;          // weight / (queries of the batch with a non-empty set)
};

namespace detail {

// Gradients of the compressed entries [n, d] back to the compressor's K = wkv x and
// Z = wgate x of every token: dK, dZ [S, coff·d] (overwritten; tokens of no entry get 0),
// ape and norm gradients added. Entry i pools block i (channels of the B half when coff = 2)
// and, overlapping, block i-1's A half; it sits at position i·r.
inline void compressor_entries_backward(const context& ctx, const model_shape& sh, const compressor_params& cp, const float* K,
                                        const float* Z, size_t S, size_t r, size_t d, size_t coff, const float* freqs,
                                        bool rotated, const float* dentries, size_t n, float* dK, float* dZ) {
    const size_t rw = coff * d, rd = size_t(sh.rope_head_dim), npos = coff * r;
    const float eps = float(sh.norm_eps);
    std::fill(dK, dK + S * rw, 0.0f);
    std::fill(dZ, dZ + S * rw, 0.0f);
    const rope_rows rope(freqs, rd, n, int64_t(r));
    // entries in parallel: each writes its own tokens' channels of dK, dZ (CSA: block i's B
    // half and block i-1's A half) and its own row of norm-gradient terms, summed in order below
    fvec dnorm_rows(n * d, 0.0f);
    ctx.parallel_for(n, 1, [&](size_t i0, size_t i1) {
        fvec pooled(d), dentry(d), dpooled(d), score(npos), kv(npos), dscore(npos), dkv(npos);
        std::vector<int64_t> token(npos), channel(npos);
        for (size_t i = i0; i < i1; ++i) {
            // the pooled positions of channel c: (token, channel) or padding (token -1), with their
            // scores (Z + ape, as the forward adds them) and values
            auto gather = [&](size_t c) {
                for (size_t m = 0; m < npos; ++m) {
                    if (coff == 2 && m < r) {
                        token[m] = int64_t(i) * int64_t(r) - int64_t(r) + int64_t(m);
                        channel[m] = int64_t(c);
                    } else {
                        token[m] = int64_t(i * r + (coff == 2 ? m - r : m));
                        channel[m] = int64_t(coff == 2 ? d + c : c);
                    }
                    if (token[m] < 0) {
                        score[m] = -INFINITY;
                        kv[m] = 0.0f;
                        continue;
                    }
                    const size_t tk = size_t(token[m]), ch = size_t(channel[m]);
                    kv[m] = K[tk * rw + ch];
                    score[m] = Z[tk * rw + ch] + cp.ape[(tk % r) * rw + ch];
                }
            };
            for (size_t c = 0; c < d; ++c) {
                gather(c);
                pooled[c] = kernels::softmax_pool(score.data(), kv.data(), npos);
            }
            std::copy(dentries + i * d, dentries + (i + 1) * d, dentry.begin());
            if (rotated) kernels::hadamard_inplace(dentry.data(), d);  // orthonormal and symmetric: its own transpose
            rope.rotate(dentry.data() + d - rd, i, true);
            kernels::rmsnorm_backward(pooled.data(), cp.norm, dentry.data(), dpooled.data(), dnorm_rows.data() + i * d, d, eps);
            for (size_t c = 0; c < d; ++c) {
                gather(c);
                kernels::softmax_pool_backward(score.data(), kv.data(), npos, dpooled[c], dscore.data(), dkv.data());
                for (size_t m = 0; m < npos; ++m) {
                    if (token[m] < 0) continue;
                    const size_t tk = size_t(token[m]), ch = size_t(channel[m]);
                    dK[tk * rw + ch] = dkv[m];
                    dZ[tk * rw + ch] = dscore[m];
                }
            }
        }
    });
    for (size_t i = 0; i < n; ++i)
        for (size_t c = 0; c < d; ++c) cp.dnorm[c] += dnorm_rows[i * d + c];
    // ape[slot] is added to every token of that slot: tokens in order
    for (size_t t = 0; t < S; ++t)
        for (size_t c = 0; c < rw; ++c) cp.dape[(t % r) * rw + c] += dZ[t * rw + c];
}

// Compressor weights' gradients from dK, dZ; dx += their input gradients (null: detached).
inline void compressor_projections_backward(const context& ctx, const compressor_params& cp, const float* x,
                                            const float* dK, const float* dZ, size_t S, size_t rw, size_t D, float* dx) {
    linear_backward(ctx, x, dK, S, rw, D, cp.wkv, cp.dwkv, dx, true);
    linear_backward(ctx, x, dZ, S, rw, D, cp.wgate, cp.dwgate, dx, true);
}

}  // namespace detail

// Given dy [S, D] (gradient of the attention output) and x [S, D] (the normalised input the
// forward saw): writes dx [S, D], adds every parameter gradient, and returns the indexer loss
// of this document's queries (already multiplied by layer.indexer_weight; 0 without an indexer).
inline double attention_backward(const context& ctx, const model_shape& sh, const attention_layer& layer,
                                 const attention_params& p, const nn::attention_saved& sv, const float* x,
                                 const float* dy, size_t S, float* dx) {
    const size_t D = size_t(sh.dim), H = size_t(sh.n_heads), d = size_t(sh.head_dim), rd = size_t(sh.rope_head_dim),
                 W = size_t(sh.window_size), G = size_t(sh.o_groups), R = size_t(sh.o_lora_rank),
                 gin = size_t(sh.group_in_dim()), ql = size_t(sh.q_lora_rank), Hd = H * d;
    const float eps = float(sh.norm_eps), scale = float(1.0 / std::sqrt(double(d)));
    const rope_rows rope(layer.rope_freqs, rd, S);
    const bool csa = layer.kind == attention_kind::csa, hca = layer.kind == attention_kind::hca;
    const size_t r = size_t(layer.ratio);
    const size_t n_entries = (csa || hca) ? sv.compressed.size() / d : 0;

    // output projections
    fvec du(S * G * R), dO(S * Hd);
    linear_backward(ctx, sv.u.data(), dy, S, D, G * R, p.wo_b, p.dwo_b, du.data(), false);
    for (size_t g = 0; g < G; ++g) {
        add_weight_gradient(ctx, du.data() + g * R, G * R, sv.o.data() + g * gin, Hd, S, R, gin, p.dwo_a + g * R * gin, gin);
        input_gradient(ctx, du.data() + g * R, G * R, p.wo_a + g * R * gin, gin, S, R, gin, 0.0f, dO.data() + g * gin, Hd);
    }
    // o was de-rotated at the query position: rotate its gradient forward
    for (size_t t = 0; t < S; ++t)
        for (size_t h = 0; h < H; ++h) rope.rotate(dO.data() + (t * H + h) * d + d - rd, t, false);

    // the rows of each query: window positions lo..t, then compressed entries
    auto window_lo = [&](size_t t) { return t + 1 > W ? t + 1 - W : 0; };
    std::vector<std::vector<int32_t>> entries_of(S);
    for (size_t t = 0; t < S; ++t) {
        if (csa) entries_of[t] = sv.selected[t];
        else if (hca)
            for (size_t i = 0; i < (t + 1) / r; ++i) entries_of[t].push_back(int32_t(i));
    }
    std::vector<size_t> offset(S + 1, 0);  // per query: H · rows coefficients
    for (size_t t = 0; t < S; ++t) offset[t + 1] = offset[t] + H * (t + 1 - window_lo(t) + entries_of[t].size());
    fvec P(offset[S]), DSC(offset[S]), dq(S * Hd), dsink_part(S * H);
    ctx.parallel_for(S, 1, [&](size_t t0, size_t t1) {
        std::vector<const float*> rows;
        for (size_t t = t0; t < t1; ++t) {
            rows.clear();
            for (size_t q = window_lo(t); q <= t; ++q) rows.push_back(sv.kv.data() + q * d);
            for (int32_t i : entries_of[t]) rows.push_back(sv.compressed.data() + size_t(i) * d);
            const size_t n = rows.size();
            for (size_t h = 0; h < H; ++h)
                dsink_part[t * H + h] = kernels::attend_with_sink_backward(
                    sv.q.data() + (t * H + h) * d, rows.data(), n, d, scale, p.sink[h], dO.data() + (t * H + h) * d,
                    P.data() + offset[t] + h * n, DSC.data() + offset[t] + h * n, dq.data() + (t * H + h) * d);
        }
    });
    for (size_t t = 0; t < S; ++t)
        for (size_t h = 0; h < H; ++h) p.dsink[h] += dsink_part[t * H + h];

    // gradient of a row j read by query t: Σ_h P[t,h,j]·dO[t,h] + DSC[t,h,j]·q[t,h]
    auto add_row_gradient = [&](size_t t, size_t j, float* drow) {
        const size_t n = (offset[t + 1] - offset[t]) / H;
        for (size_t h = 0; h < H; ++h) {
            kernels::axpy(P[offset[t] + h * n + j], dO.data() + (t * H + h) * d, drow, d);
            kernels::axpy(DSC[offset[t] + h * n + j], sv.q.data() + (t * H + h) * d, drow, d);
        }
    };
    fvec dkv(S * d, 0.0f);
    ctx.parallel_for(S, 4, [&](size_t p0, size_t p1) {
        for (size_t q = p0; q < p1; ++q)
            for (size_t t = q; t < std::min(S, q + W); ++t) add_row_gradient(t, q - window_lo(t), dkv.data() + q * d);
    });
    // readers of each compressed entry, queries ascending: (query, row index)
    std::vector<std::vector<std::pair<int32_t, int32_t>>> readers(n_entries);
    for (size_t t = 0; t < S; ++t)
        for (size_t m = 0; m < entries_of[t].size(); ++m)
            readers[size_t(entries_of[t][m])].push_back({int32_t(t), int32_t(t + 1 - window_lo(t) + m)});
    fvec dcomp(n_entries * d, 0.0f);
    ctx.parallel_for(n_entries, 1, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i)
            for (const auto& [t, j] : readers[i]) add_row_gradient(size_t(t), size_t(j), dcomp.data() + i * d);
    });

    // q path: RoPE undone, per-head weightless norm, wq_b, q_norm, wq_a
    ctx.parallel_for(S, 4, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t)
            for (size_t h = 0; h < H; ++h) {
                float* g = dq.data() + (t * H + h) * d;
                rope.rotate(g + d - rd, t, true);
                kernels::rmsnorm_backward(sv.q_raw.data() + (t * H + h) * d, nullptr, g, g, nullptr, d, eps);
            }
    });
    fvec dqr(S * ql);
    linear_backward(ctx, sv.qr.data(), dq.data(), S, Hd, ql, p.wq_b, p.dwq_b, dqr.data(), false);
    rmsnorm_rows_backward(ctx, sv.qr_raw.data(), p.q_norm, dqr.data(), dqr.data(), p.dq_norm, S, ql, eps);
    // kv path
    for (size_t t = 0; t < S; ++t) rope.rotate(dkv.data() + t * d + d - rd, t, true);
    rmsnorm_rows_backward(ctx, sv.kv_raw.data(), p.kv_norm, dkv.data(), dkv.data(), p.dkv_norm, S, d, eps);
    linear_backward(ctx, x, dkv.data(), S, d, D, p.wkv, p.dwkv, dx, false);
    linear_backward(ctx, x, dqr.data(), S, ql, D, p.wq_a, p.dwq_a, dx, true);

    // main compressor
    if (csa || hca) {
        const size_t coff = csa ? 2 : 1;  // CSA entries overlap two blocks
        const size_t rw = coff * d;
        fvec dK(S * rw), dZ(S * rw);
        detail::compressor_entries_backward(ctx, sh, p.compressor, sv.ck.data(), sv.cz.data(), S, r, d, coff, layer.rope_freqs,
                                            false, dcomp.data(), n_entries, dK.data(), dZ.data());
        detail::compressor_projections_backward(ctx, p.compressor, x, dK.data(), dZ.data(), S, rw, D, dx);
    }
    if (!csa) return 0.0;

    // lightning indexer: KL(p ‖ softmax(I)) over each query's set, p detached
    const size_t ih = size_t(sh.index_n_heads), id = size_t(sh.index_head_dim), n_keys = sv.index_keys.size() / id;
    fvec dqi(S * ih * id, 0.0f), dhw(S * ih, 0.0f);
    std::vector<fvec> ddots(S);  // per query: [|S_t|, ih]
    std::vector<double> query_loss(S, 0.0);
    // queries in parallel: each writes its own rows of dqi, dhw, ddots and its loss term
    ctx.parallel_for(S, 4, [&](size_t q0, size_t q1) {
        for (size_t t = q0; t < q1; ++t) {
            const auto& set = sv.selected[t];
            const size_t m = set.size();
            if (m == 0) continue;
            double& loss = query_loss[t];
            const size_t n = (offset[t + 1] - offset[t]) / H, w0 = t + 1 - window_lo(t);
            fvec target(m, 0.0f), dI(m);
            double mass = 0;
            for (size_t a = 0; a < m; ++a) {
                for (size_t h = 0; h < H; ++h) target[a] += P[offset[t] + h * n + w0 + a];
                mass += target[a];
            }
            double mx = -INFINITY, den = 0;
            for (size_t a = 0; a < m; ++a) mx = std::max(mx, double(sv.index_scores[t][size_t(set[a])]));
            for (size_t a = 0; a < m; ++a) den += std::exp(double(sv.index_scores[t][size_t(set[a])]) - mx);
            for (size_t a = 0; a < m; ++a) {
                const double logq = double(sv.index_scores[t][size_t(set[a])]) - mx - std::log(den);
                const double pa = mass > 0 ? double(target[a]) / mass : 0.0;
                if (pa > 0) loss += pa * (std::log(pa) - logq);
                dI[a] = float(layer.indexer_weight * (std::exp(logq) - pa));
            }
            // scores I[t, s] = Σ_h hw[t,h] relu(qi[t,h] · k_s)
            fvec dots(m * ih);
            for (size_t a = 0; a < m; ++a)
                for (size_t h = 0; h < ih; ++h)
                    dots[a * ih + h] = kernels::dot(sv.qi.data() + (t * ih + h) * id, sv.index_keys.data() + size_t(set[a]) * id, id);
            ddots[t].resize(m * ih);
            kernels::weighted_relu_sum_backward(dots.data(), m, ih, sv.hw.data() + t * ih, dI.data(), ddots[t].data(),
                                                dhw.data() + t * ih);
            for (size_t a = 0; a < m; ++a)
                for (size_t h = 0; h < ih; ++h)
                    kernels::axpy(ddots[t][a * ih + h], sv.index_keys.data() + size_t(set[a]) * id, dqi.data() + (t * ih + h) * id, id);
        }
    });
    double loss = 0;
    for (double l : query_loss) loss += l;
    loss *= layer.indexer_weight;
    // keys: gathered over their readers, queries ascending
    fvec dkeys(n_keys * id, 0.0f);
    ctx.parallel_for(n_keys, 1, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i)
            for (const auto& [t, j] : readers[i]) {
                const size_t a = size_t(j) - (size_t(t) + 1 - window_lo(size_t(t)));
                for (size_t h = 0; h < ih; ++h)
                    kernels::axpy(ddots[size_t(t)][a * ih + h], sv.qi.data() + (size_t(t) * ih + h) * id, dkeys.data() + i * id, id);
            }
    });
    // queries: Hadamard then RoPE undone; wq_b's input qr is detached
    for (size_t t = 0; t < S; ++t)
        for (size_t h = 0; h < ih; ++h) {
            float* g = dqi.data() + (t * ih + h) * id;
            kernels::hadamard_inplace(g, id);
            rope.rotate(g + id - rd, t, true);
        }
    add_weight_gradient(ctx, dqi.data(), ih * id, sv.qr.data(), ql, S, ih * id, ql, p.dindex_wq_b, ql);
    // hw = weights_proj(x) · wscale; x detached
    const float wscale = float(1.0 / std::sqrt(double(id)) / std::sqrt(double(ih)));
    for (auto& v : dhw) v *= wscale;
    add_weight_gradient(ctx, dhw.data(), ih, x, D, S, ih, D, p.dindex_weights_proj, D);
    // the indexer's compressor (overlapping, rotated); x detached
    fvec dK(S * 2 * id), dZ(S * 2 * id);
    detail::compressor_entries_backward(ctx, sh, p.index_compressor, sv.ik.data(), sv.iz.data(), S, r, id, 2, layer.rope_freqs,
                                        true, dkeys.data(), n_keys, dK.data(), dZ.data());
    detail::compressor_projections_backward(ctx, p.index_compressor, x, dK.data(), dZ.data(), S, 2 * id, D, nullptr);
    return loss;
}

}  // namespace dsv4::train
