// dsv4/config/derived.hpp — numbers that follow from a model_shape, all constexpr:
// the release checkpoint's tensor list (count and bytes), parameter counts, and the
// KV-cache bytes per token at a given context (ARCHITECTURE.md §1.1, §9, §11).
//
// The tensor walk mirrors the official names one by one (see io/tensor_names.hpp for the
// names themselves); counting it reproduces the published index totals exactly, which is
// what the static_asserts in config/models.hpp pin.
#pragma once

#include <cstdint>

#include <dsv4/config/config.hpp>

namespace dsv4 {

struct checkpoint_totals {
    int64_t tensors = 0;
    int64_t bytes = 0;            // bytes of the release safetensors data
    int64_t params = 0;           // logical weight elements (FP4 counts two per byte), no scales
    int64_t routed_params = 0;    // of which routed-expert weights
};

namespace detail {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

constexpr int64_t bytes_per_element(weight_format f) {
    switch (f) {
        case weight_format::f32: return 4;
        case weight_format::bf16: return 2;
        case weight_format::fp8_e4m3: return 1;
        case weight_format::fp4_e2m1: return 1;  // counted per packed byte by the caller
    }
    return 4;
}

struct totals_builder {
    checkpoint_totals t;
    weight_format dense;
    weight_format expert;
    // a plain tensor of `numel` elements stored with `bytes_each` bytes each
    constexpr void plain(int64_t numel, int64_t bytes_each, int64_t count = 1) {
        t.tensors += count;
        t.bytes += count * numel * bytes_each;
        t.params += count * numel;
    }
    // a Linear in the dense format: FP8 adds a [ceil(out/128), ceil(in/128)] e8m0 scale tensor
    constexpr void linear(int64_t out, int64_t in, int64_t count = 1, weight_format f = weight_format::f32,
                          bool use_dense = true) {
        if (use_dense) f = dense;
        if (f == weight_format::fp8_e4m3) {
            plain(out * in, 1, count);
            t.tensors += count;
            t.bytes += count * ceil_div(out, 128) * ceil_div(in, 128);
        } else {
            plain(out * in, bytes_per_element(f), count);
        }
    }
    // a routed-expert Linear: FP4 packs two per byte and adds a [out, in/32] e8m0 scale tensor
    constexpr void expert_linear(int64_t out, int64_t in, int64_t count) {
        t.routed_params += count * out * in;
        if (expert == weight_format::fp4_e2m1) {
            t.tensors += 2 * count;
            t.bytes += count * (out * in / 2 + out * in / 32);
            t.params += count * out * in;
        } else {
            linear(out, in, count, expert, false);
        }
    }
};

// bf16 in the release for norms/embeddings/compressor weights; the all-f32 test layouts
// store those in f32 too.
constexpr int64_t small_float_bytes(weight_format dense) { return dense == weight_format::f32 ? 4 : 2; }

constexpr void add_block(totals_builder& b, const model_shape& s, int layer, bool hashed) {
    const int64_t D = s.dim, hd = s.head_dim, q = s.q_lora_rank;
    const int64_t bf = small_float_bytes(b.dense);
    const int r = s.ratio(layer);
    for (int site = 0; site < 2; ++site) {  // hc_attn_*, hc_ffn_*: fn, base, scale (f32)
        b.plain(int64_t(s.hc_mix()) * s.hc_dim(), 4);
        b.plain(s.hc_mix(), 4);
        b.plain(3, 4);
    }
    b.plain(D, bf);  // attn_norm
    b.plain(D, bf);  // ffn_norm
    b.plain(s.n_heads, 4);  // attn_sink
    b.linear(q, D);         // wq_a
    b.plain(q, bf);         // q_norm
    b.linear(int64_t(s.n_heads) * hd, q);  // wq_b
    b.linear(hd, D);                       // wkv
    b.plain(hd, bf);                       // kv_norm
    b.linear(int64_t(s.o_groups) * s.o_lora_rank, s.group_in_dim());  // wo_a
    b.linear(D, int64_t(s.o_groups) * s.o_lora_rank);                 // wo_b
    if (r > 0) {
        const int64_t c = r == 4 ? 2 : 1;
        b.plain(r * c * hd, 4);   // compressor.ape
        b.plain(c * hd * D, bf);  // compressor.wkv
        b.plain(c * hd * D, bf);  // compressor.wgate
        b.plain(hd, bf);          // compressor.norm
    }
    if (r == 4) {
        const int64_t id = s.index_head_dim;
        b.linear(int64_t(s.index_n_heads) * id, q);  // indexer.wq_b
        b.plain(int64_t(s.index_n_heads) * D, bf);   // indexer.weights_proj
        b.plain(4 * 2 * id, 4);                      // indexer.compressor.ape
        b.plain(2 * id * D, bf);                     // indexer.compressor.wkv
        b.plain(2 * id * D, bf);                     // indexer.compressor.wgate
        b.plain(id, bf);                             // indexer.compressor.norm
    }
    const int64_t E = s.n_routed_experts, I = s.moe_inter_dim;
    b.plain(E * D, bf);  // gate.weight
    if (hashed)
        b.plain(int64_t(s.vocab_size) * s.n_activated_experts, 8);  // gate.tid2eid (I64)
    else
        b.plain(E, 4);  // gate.bias
    b.expert_linear(I, D, E);  // experts.e.w1 for every e
    b.expert_linear(I, D, E);  // experts.e.w3
    b.expert_linear(D, I, E);  // experts.e.w2
    b.linear(I, D);  // shared w1
    b.linear(I, D);  // shared w3
    b.linear(D, I);  // shared w2
}

}  // namespace detail

// Totals of the release checkpoint (main model and MTP blocks separately).
struct checkpoint_layout {
    checkpoint_totals main;
    checkpoint_totals mtp;
    constexpr int64_t tensors() const { return main.tensors + mtp.tensors; }
    constexpr int64_t bytes() const { return main.bytes + mtp.bytes; }
};

constexpr checkpoint_layout release_checkpoint(const model_shape& s) {
    detail::totals_builder b{{}, s.dense_format, s.expert_format};
    const int64_t D = s.dim, bf = detail::small_float_bytes(s.dense_format);
    b.plain(int64_t(s.vocab_size) * D, bf);  // embed
    b.plain(int64_t(s.vocab_size) * D, bf);  // head
    b.plain(D, bf);                          // norm
    b.plain(int64_t(s.hc_mult) * s.hc_dim(), 4);  // hc_head_fn
    b.plain(s.hc_mult, 4);                        // hc_head_base
    b.plain(1, 4);                                // hc_head_scale
    for (int l = 0; l < s.n_layers; ++l) detail::add_block(b, s, l, s.is_hash_layer(l));
    checkpoint_layout out;
    out.main = b.t;
    b.t = {};
    for (int m = 0; m < s.n_mtp_layers; ++m) {
        detail::add_block(b, s, s.n_layers + m, false);
        b.linear(D, D);  // e_proj
        b.linear(D, D);  // h_proj
        b.plain(D, bf);  // enorm
        b.plain(D, bf);  // hnorm
        b.plain(D, bf);  // norm
        b.plain(int64_t(s.hc_mult) * s.hc_dim(), 4);
        b.plain(s.hc_mult, 4);
        b.plain(1, 4);
    }
    out.mtp = b.t;
    return out;
}

// Parameters of the main model (MTP excluded), as the published "284B" / "1.6T".
constexpr int64_t total_params(const model_shape& s) { return release_checkpoint(s).main.params; }
constexpr int64_t mtp_params(const model_shape& s) { return release_checkpoint(s).mtp.params; }

// Parameters used per token: everything but the unselected routed experts and the
// embedding table (a row lookup, not a matmul) — the published "13B" / "49B".
constexpr int64_t activated_params(const model_shape& s) {
    const auto m = release_checkpoint(s).main;
    const int64_t routed_active = m.routed_params * s.n_activated_experts / s.n_routed_experts;
    return m.params - m.routed_params + routed_active - int64_t(s.vocab_size) * s.dim;
}

// KV-cache storage of one sequence at `context` tokens (ARCHITECTURE.md §11).
enum class kv_storage {
    reference_bf16,  // (a) the reference: every entry BF16
    trained_precision  // (b) nope FP8 + e8m0 per 64, rope BF16; indexer keys FP4 + e8m0 per 32
};

struct kv_entry_counts {
    int64_t main_entries = 0;     // window + compressed entries of head_dim each
    int64_t indexer_entries = 0;  // indexer keys of index_head_dim each
};

// Main layers only (the MTP window and the constant compressor state are left out).
constexpr kv_entry_counts kv_entries(const model_shape& s, int64_t context) {
    kv_entry_counts c;
    for (int l = 0; l < s.n_layers; ++l) {
        const int r = s.ratio(l);
        c.main_entries += s.window_size;
        if (r > 0) c.main_entries += context / r;
        if (r == 4) c.indexer_entries += context / 4;
    }
    return c;
}

constexpr int64_t kv_bytes_per_main_entry(const model_shape& s, kv_storage st) {
    if (st == kv_storage::reference_bf16) return 2 * int64_t(s.head_dim);
    return s.nope_dim() + (s.nope_dim() + 63) / 64 + 2 * int64_t(s.rope_head_dim);
}
constexpr int64_t kv_bytes_per_indexer_entry(const model_shape& s, kv_storage st) {
    if (st == kv_storage::reference_bf16) return 2 * int64_t(s.index_head_dim);
    return s.index_head_dim / 2 + (s.index_head_dim + 31) / 32;
}

constexpr int64_t kv_cache_bytes(const model_shape& s, int64_t context, kv_storage st) {
    const auto c = kv_entries(s, context);
    return c.main_entries * kv_bytes_per_main_entry(s, st) + c.indexer_entries * kv_bytes_per_indexer_entry(s, st);
}

// Rounded to the nearest byte, as ARCHITECTURE.md §11.2 quotes them.
constexpr int64_t kv_bytes_per_token(const model_shape& s, int64_t context, kv_storage st) {
    return (kv_cache_bytes(s, context, st) + context / 2) / context;
}

}  // namespace dsv4
