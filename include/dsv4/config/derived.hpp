// dsv4/config/derived.hpp — numbers that follow from a model_shape, all constexpr:
// the release checkpoint's tensor count and bytes, parameter counts, and the KV-cache
// bytes per token at a given context (docs/spec/ARCHITECTURE.md §1.1, §9, §11).
//
// The totals walk the tensor list (config/tensor_list.hpp); they reproduce the published
// index totals exactly, which is what the static_asserts in config/flash.hpp and
// config/pro.hpp pin.
#pragma once

#include <cstdint>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>

namespace dsv4 {

struct checkpoint_totals {
    int64_t tensors = 0;
    int64_t bytes = 0;            // bytes of the release safetensors data
    int64_t params = 0;           // logical weight elements (FP4 counts two per byte), no scales
    int64_t routed_params = 0;    // of which routed-expert weights
};

// Totals of the release checkpoint (main model and MTP blocks separately).
struct checkpoint_layout {
    checkpoint_totals main;
    checkpoint_totals mtp;
    constexpr int64_t tensors() const { return main.tensors + mtp.tensors; }
    constexpr int64_t bytes() const { return main.bytes + mtp.bytes; }
};

namespace detail {

// Stored bytes of one tensor of the list with its scale tensor, and how many tensors that is.
struct stored_size {
    int64_t tensors = 1;
    int64_t bytes = 0;
};
constexpr stored_size stored_size_of(const model_shape& s, const tensor_desc& t) {
    if (t.role == tensor_role::index_table) return {1, t.numel() * 8};
    const int64_t n = t.numel();
    switch (storage_format(s, t.role)) {
        case weight_format::f32: return {1, n * 4};
        case weight_format::bf16: return {1, n * 2};
        case weight_format::fp8_e4m3:  // + its e8m0 scale grid
            return {2, n + scale_grid_of(weight_format::fp8_e4m3, t.dims[0], t.dims[1]).count()};
        case weight_format::fp4_e2m1:  // packed two per byte + its e8m0 scale grid
            return {2, n / 2 + scale_grid_of(weight_format::fp4_e2m1, t.dims[0], t.dims[1]).count()};
    }
    return {};
}

}  // namespace detail

constexpr checkpoint_layout release_checkpoint(const model_shape& s) {
    checkpoint_layout out;
    for_each_tensor(s, [&](const tensor_desc& t) {
        checkpoint_totals& part = t.block >= s.n_layers ? out.mtp : out.main;
        const auto stored = detail::stored_size_of(s, t);
        part.tensors += t.experts * stored.tensors;
        part.bytes += t.experts * stored.bytes;
        part.params += t.experts * t.numel();
        if (t.role == tensor_role::expert) part.routed_params += t.experts * t.numel();
    });
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

// KV-cache storage of one sequence at `context` tokens (docs/spec/ARCHITECTURE.md §11).
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
        if (s.has_compressor(l)) c.main_entries += context / r;
        if (s.has_indexer(l)) c.indexer_entries += context / r;
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

// Rounded to the nearest byte, as docs/spec/ARCHITECTURE.md §11.2 quotes them.
constexpr int64_t kv_bytes_per_token(const model_shape& s, int64_t context, kv_storage st) {
    return (kv_cache_bytes(s, context, st) + context / 2) / context;
}

}  // namespace dsv4
