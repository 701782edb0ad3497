// dsv4/train/cost.hpp — what a training step costs, from the shape alone: the memory it keeps
// and the arithmetic it does.
//
// A step holds the f32 parameters, their gradients, and one document's saved forward at a
// time (train/training_step.hpp runs the documents one after another). The saved forward is
// the list of nn/saved.hpp, per block of the document (T tokens for the main layers, T − 1
// for the MTP block), plus the streams the heads read; the backward adds, for the block it
// is in, the attention's per-(query, head, row) probabilities and score gradients. Both are
// counted here so that the benchmark can check the peak RSS against them (docs/TRAINING.md).
#pragma once

#include <algorithm>
#include <cstdint>

#include <dsv4/config/config.hpp>
#include <dsv4/config/derived.hpp>

namespace dsv4::train {

namespace detail {

// Compressed entries the queries of a T-token document read in a layer of ratio r:
// Σ_t ⌊(t+1)/r⌋ (HCA: all visible), and the same capped at `topk` per query (CSA).
constexpr int64_t visible_entries(int64_t T, int64_t r, int64_t cap) {
    int64_t n = 0;
    for (int64_t t = 0; t < T; ++t) n += std::min(cap, (t + 1) / r);
    return n;
}

// Floats (and 32-bit ints) one block keeps for a T-token document.
constexpr int64_t saved_block_values(const model_shape& s, int b, int64_t T) {
    const int64_t D = s.dim, hc = s.hc_mult, H = s.n_heads, d = s.head_dim, ql = s.q_lora_rank, E = s.n_routed_experts,
                  k = s.n_activated_experts, I = s.moe_inter_dim;
    int64_t n = 2 * T * hc * D + 4 * T * D;                                     // streams in / mid, sub-layer in / out
    n += 2 * T * ql + 3 * T * H * d + 2 * T * d + T * s.o_groups * s.o_lora_rank;  // q, kv, o, u
    if (s.has_compressor(b)) {
        const int64_t r = s.ratio(b), coff = s.compressor_coff(b);
        n += 2 * T * coff * d + (T / r) * d;  // K, Z, entries
    }
    if (s.has_indexer(b)) {
        const int64_t r = s.ratio(b), ih = s.index_n_heads, id = s.index_head_dim;
        n += 4 * T * id + T * ih * id + T * ih + (T / r) * id;                   // K, Z, queries, weights, keys
        n += visible_entries(T, r, T) + visible_entries(T, r, s.index_topk);  // scores, selections
    }
    n += 2 * T * E + 2 * T * k;                 // router logits, scores, experts, weights
    n += 2 * I * (T * k + T) + 2 * T * k + T;   // expert rows' gate and up, tokens, slots
    return n;
}

// The attention backward's per-(query, head, row) coefficients of block b.
constexpr int64_t attention_backward_values(const model_shape& s, int b, int64_t T) {
    int64_t rows = 0;
    for (int64_t t = 0; t < T; ++t) rows += std::min<int64_t>(t + 1, s.window_size);
    if (s.kind(b) == attention_kind::csa) rows += visible_entries(T, s.ratio(b), s.index_topk);
    if (s.kind(b) == attention_kind::hca) rows += visible_entries(T, s.ratio(b), T);
    return 2 * s.n_heads * rows;
}

}  // namespace detail

// Bytes of one T-token document's saved forward (every block, the heads' streams) and of the
// largest block's backward coefficients: the activation memory of a training step.
constexpr int64_t training_activation_bytes(const model_shape& s, int64_t T) {
    const int64_t streams = int64_t(s.hc_mult) * s.dim;
    int64_t values = T * streams + (s.n_mtp_layers > 0 ? (T - 1) * streams : 0);
    int64_t backward = 0;
    for (int b = 0; b < s.n_layers + s.n_mtp_layers; ++b) {
        const int64_t Tb = b < s.n_layers ? T : T - 1;
        values += detail::saved_block_values(s, b, Tb);
        backward = std::max(backward, detail::attention_backward_values(s, b, Tb));
    }
    return 4 * (values + backward);
}

// Bytes of the f32 parameters (every float tensor of the official list) — and as many again
// for their gradients.
constexpr int64_t parameter_bytes(const model_shape& s) {
    int64_t n = 0;
    for_each_tensor(s, [&](const tensor_desc& t) {
        if (t.role != tensor_role::index_table) n += t.numel() * t.experts;
    });
    return 4 * n;
}

// Floating-point operations of one training token (forward and backward) in a T-token
// document: 6 × the matrix parameters the token multiplies (its k routed experts and the
// shared one, every projection, mHC's fn, the MTP block's projections, both heads), plus
// 3 × the forward's attention products (scores and weighted sums over the rows each query
// reads, and the indexer's scores), averaged over the document's positions.
constexpr double training_flops_per_token(const model_shape& s, int64_t T) {
    const double D = s.dim, H = s.n_heads, d = s.head_dim, ql = s.q_lora_rank, hc = s.hc_mult, I = s.moe_inter_dim;
    double matrix = 2.0 * double(s.vocab_size) * D * (s.n_mtp_layers > 0 ? 2 : 1);  // heads
    double attention = 0;
    for (int b = 0; b < s.n_layers + s.n_mtp_layers; ++b) {
        matrix += ql * D + H * d * ql + d * D + double(s.o_groups) * s.o_lora_rank * (H * d / s.o_groups) +
                  D * s.o_groups * s.o_lora_rank;
        matrix += 2.0 * double(s.hc_mix()) * hc * D + hc * hc * D;  // two mHC sites, hc_head
        matrix += double(s.n_routed_experts) * D + (s.n_activated_experts + 1) * 3.0 * I * D;
        if (s.has_compressor(b)) matrix += 2.0 * s.compressor_coff(b) * d * D;
        if (s.has_indexer(b))
            matrix += double(s.index_n_heads) * s.index_head_dim * ql + s.index_n_heads * D + 4.0 * s.index_head_dim * D;
        if (b >= s.n_layers) matrix += D * D + D * D;  // MTP e_proj, h_proj
        const int64_t Tb = b < s.n_layers ? T : T - 1;
        int64_t rows = 0;
        for (int64_t t = 0; t < Tb; ++t) rows += std::min<int64_t>(t + 1, s.window_size);
        if (s.kind(b) == attention_kind::csa) {
            rows += detail::visible_entries(Tb, s.ratio(b), s.index_topk);
            attention += 2.0 * s.index_n_heads * s.index_head_dim * double(detail::visible_entries(Tb, s.ratio(b), Tb)) / double(T);
        }
        if (s.kind(b) == attention_kind::hca) rows += detail::visible_entries(Tb, s.ratio(b), Tb);
        attention += 4.0 * H * d * double(rows) / double(T);
    }
    return 6.0 * matrix + 3.0 * attention;
}

}  // namespace dsv4::train
