// dsv4/nn/saved.hpp — what a training forward keeps for the backward, and the training
// variants of the forward (dense indexer warm-up, routing override).
//
// The forward functions (nn/attention.hpp, nn/moe.hpp, nn/model.hpp) take an optional
// `training_hooks`; when it is null they run exactly as for inference. When set, they copy
// the intermediates listed below as they compute them (the forward stays one description:
// the training forward IS the inference forward, so its logits are bit-identical), and they
// apply the two training variants of docs/spec/TRAINING.md:
//   * dense_indexer (§3.4 warm-up): CSA layers attend to every visible compressed entry
//     (as HCA does) instead of the indexer's top-k; the indexer's scores are still kept.
//   * forced_experts (§10 Anticipatory Routing): per score-routed layer, the [T, k] expert ids
//     to use instead of the top-k of s + bias; the weights still come from the current router.
// Shapes below are for one document of S tokens (positions 0..S-1), in the forward's order.
#pragma once

#include <cstdint>
#include <vector>

namespace dsv4::nn {

struct attention_saved {
    std::vector<float> qr_raw;    // [S, q_lora] wq_a x, before q_norm
    std::vector<float> qr;        // [S, q_lora] after q_norm (input of wq_b and of the indexer's wq_b)
    std::vector<float> q_raw;     // [S, H, d] wq_b qr, before the per-head RMS norm
    std::vector<float> q;         // [S, H, d] the queries as used (normed, RoPE'd)
    std::vector<float> kv_raw;    // [S, d] wkv x, before kv_norm
    std::vector<float> kv;        // [S, d] the window rows as used (normed, RoPE'd)
    std::vector<float> ck, cz;    // [S, coff*d] compressor wkv x and wgate x (CSA/HCA)
    std::vector<float> ik, iz;    // [S, 2*id] the indexer compressor's (CSA)
    std::vector<float> qi;        // [S, ih, id] indexer queries as used (RoPE'd, rotated)
    std::vector<float> hw;        // [S, ih] indexer head weights as used (weights_proj x, scaled)
    std::vector<std::vector<float>> index_scores;   // per query: scores of its visible entries
    std::vector<std::vector<int32_t>> selected;     // per query: compressed entries attended (CSA)
    std::vector<float> o;         // [S, H, d] attention output after inverse RoPE (input of wo_a)
    std::vector<float> u;         // [S, G*R] wo_a output (input of wo_b)
    std::vector<float> compressed;  // [entries, d] the compressed entries as used
    std::vector<float> index_keys;  // [entries, id] the indexer's keys as used (CSA)
};

struct moe_saved {
    std::vector<float> logits;     // [S, E] x · gateᵀ
    std::vector<float> scores;     // [S, E] sqrt(softplus(logits))
    std::vector<int32_t> experts;  // [S, k] the experts used
    std::vector<float> weights;    // [S, k] their routing weights
    struct expert_rows {
        int expert = -1;             // routed expert id; -1 for the shared expert
        std::vector<int32_t> tokens; // the rows' tokens (shared: all, in order)
        std::vector<int32_t> slots;  // the rows' slot j in experts[t, j] (routed)
        std::vector<float> gate, up; // [n, I] w1 x and w3 x, before the clamp
    };
    std::vector<expert_rows> rows;  // routed experts by id, then the shared one
};

struct block_saved {
    std::vector<float> x_in;   // [S, hc, D] streams entering the block
    std::vector<float> attn_in;  // [S, D] hc_attn's collapse, before attn_norm
    std::vector<float> attn_out; // [S, D] attention output
    std::vector<float> x_mid;  // [S, hc, D] streams after the attention's hc_post
    std::vector<float> ffn_in;   // [S, D] hc_ffn's collapse, before ffn_norm
    std::vector<float> ffn_out;  // [S, D] MoE output
    attention_saved attn;
    moe_saved moe;
};

struct training_hooks {
    bool dense_indexer = false;
    // indexed by block (layers, then MTP blocks): [S, k] expert ids, empty = the block's own top-k
    std::vector<std::vector<int32_t>> forced_experts;
    // filled by the forward, indexed by block (n_layers + m for MTP block m)
    std::vector<block_saved> blocks;

    const std::vector<int32_t>* forced(int block) const {
        return size_t(block) < forced_experts.size() && !forced_experts[size_t(block)].empty()
                   ? &forced_experts[size_t(block)] : nullptr;
    }
};

}  // namespace dsv4::nn
