// dsv4/config/config.hpp — compile-time model configuration and its run-time mirror.
//
// A config is a struct of `static constexpr` members named like the keys of the official
// inference config.json (ModelArgs field names). `FlashConfig` and `ProConfig` carry the
// published values; a variant derives and shadows members:
//
//     struct my_config : dsv4::FlashConfig {
//         static constexpr int n_layers = 8;
//         static constexpr std::array<int, 9> compress_ratios = {0, 0, 4, 128, 4, 128, 4, 128, 0};
//     };
//
// `shape_of<Config>()` copies the members into `model_shape`, a literal struct used at
// run time by the heavy code (kernels and layers take sizes as arguments, so they are
// compiled once, not once per config) and in constexpr derived figures (derived.hpp).
// A config may also state `attention_kinds` per layer (otherwise the reference's rule
// derives them from the ratios). `validate()` checks the structural rules at run time;
// `check_config<Config>()` asserts each of them at compile time with its own message.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <dsv4/tensor/number_formats.hpp>

namespace dsv4 {

// What attention a layer runs: a sliding window only; CSA (window + overlapping compressed
// entries chosen by the lightning indexer); HCA (window + every non-overlapping compressed
// entry). The reference decides it from the ratio (4 is CSA, other nonzero ratios HCA);
// a shape states it per layer, so a variant may pair either kind with another ratio.
enum class attention_kind : uint8_t { window, csa, hca };

constexpr std::string_view to_string(attention_kind k) {
    switch (k) {
        case attention_kind::window: return "window";
        case attention_kind::csa: return "csa";
        case attention_kind::hca: return "hca";
    }
    return "?";
}

// The reference's rule (Compressor.overlap = ratio == 4; an Indexer exactly then).
constexpr attention_kind reference_attention_kind(int compress_ratio) {
    return compress_ratio == 0 ? attention_kind::window : compress_ratio == 4 ? attention_kind::csa : attention_kind::hca;
}

inline constexpr int max_layers = 256;          // capacity of the per-layer arrays (main + MTP)
inline constexpr int max_compress_ratio = 1024;  // a compressor holds [2r, 2d] floats per sequence
inline constexpr int max_size = 1 << 20;        // bound on every size, so products of two fit in 64 bits

// The scalar fields of a shape, each named like its inference config.json key: the one list
// that declares model_shape, copies a config type into it and fingerprints it. The structure
// comes first; the storage formats of the release layout (which the loader reads from the
// files anyway) are not part of the fingerprint.
#define DSV4_SHAPE_SCALAR_FIELDS(X) DSV4_SHAPE_STRUCTURE_FIELDS(X) DSV4_SHAPE_STORAGE_FIELDS(X)
#define DSV4_SHAPE_STRUCTURE_FIELDS(X)                                                                     \
    X(int, vocab_size, 0) X(int, dim, 0) X(int, n_layers, 0) X(int, n_mtp_layers, 0) X(int, n_heads, 0) \
    X(int, head_dim, 0) X(int, rope_head_dim, 0) X(int, q_lora_rank, 0) X(int, o_groups, 0)             \
    X(int, o_lora_rank, 0) X(int, window_size, 0) X(int, n_routed_experts, 0)                           \
    X(int, n_shared_experts, 0) X(int, n_activated_experts, 0) X(int, moe_inter_dim, 0)                 \
    X(int, n_hash_layers, 0) X(double, route_scale, 0) X(double, swiglu_limit, 0)                        \
    X(int, index_n_heads, 0) X(int, index_head_dim, 0) X(int, index_topk, 0) X(double, rope_theta, 0)   \
    X(double, compress_rope_theta, 0) X(int, original_seq_len, 0) X(double, rope_factor, 0)              \
    X(int, beta_fast, 0) X(int, beta_slow, 0) X(int, hc_mult, 0) X(int, hc_sinkhorn_iters, 0)           \
    X(double, hc_eps, 0) X(double, norm_eps, 0)                                                          \
    /* the current official revision clamps the shared expert's SwiGLU too (false = initial) */        \
    X(bool, shared_expert_clamp, true)
// storage formats of the release layout (dense Linear weights, routed experts)
#define DSV4_SHAPE_STORAGE_FIELDS(X)                         \
    X(weight_format, dense_format, weight_format::fp8_e4m3) \
    X(weight_format, expert_format, weight_format::fp4_e2m1)

// Run-time mirror of a config type: the heavy code takes its sizes from here.
struct model_shape {
#define DSV4_DECLARE_FIELD(type, name, initial) type name = initial;
    DSV4_SHAPE_SCALAR_FIELDS(DSV4_DECLARE_FIELD)
#undef DSV4_DECLARE_FIELD
    // per layer, main layers then MTP blocks (the first n_blocks() entries are used)
    std::array<int, max_layers> compress_ratios{};
    std::array<attention_kind, max_layers> attention_kinds{};

    // ---- derived sizes used everywhere
    constexpr int n_blocks() const { return n_layers + n_mtp_layers; }
    constexpr int ratio(int layer) const { return compress_ratios[static_cast<size_t>(layer)]; }
    constexpr attention_kind kind(int layer) const { return attention_kinds[static_cast<size_t>(layer)]; }
    constexpr bool has_compressor(int layer) const { return kind(layer) != attention_kind::window; }
    constexpr bool has_indexer(int layer) const { return kind(layer) == attention_kind::csa; }
    // a compressor's rows are [coff*d] wide: CSA pools overlapping blocks (two halves)
    constexpr int compressor_coff(int layer) const { return has_indexer(layer) ? 2 : 1; }
    constexpr int nope_dim() const { return head_dim - rope_head_dim; }
    constexpr int hc_dim() const { return hc_mult * dim; }
    constexpr int hc_mix() const { return (2 + hc_mult) * hc_mult; }
    constexpr int heads_per_group() const { return n_heads / o_groups; }
    constexpr int group_in_dim() const { return heads_per_group() * head_dim; }
    constexpr bool is_hash_layer(int layer) const { return layer < n_hash_layers && layer < n_layers; }

    // The attention kinds the reference derives from compress_ratios.
    constexpr void set_reference_attention_kinds() {
        for (size_t l = 0; l < compress_ratios.size(); ++l) attention_kinds[l] = reference_attention_kind(compress_ratios[l]);
    }
};

// A 64-bit digest of the structure (every field but the storage formats): states, files and
// models made for one shape carry it, so a state from another shape is refused before
// anything is read or written. Weights stored in other formats make another model of the
// same shape, as other weights do.
constexpr uint64_t fingerprint(const model_shape& s) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over each field's value
    auto mix = [&h](uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xFF;
            h *= 0x100000001b3ull;
        }
    };
    auto value = [](auto v) -> uint64_t {
        if constexpr (std::is_same_v<decltype(v), double>) return std::bit_cast<uint64_t>(v);
        else return static_cast<uint64_t>(v);
    };
#define DSV4_HASH_FIELD(type, name, initial) mix(value(s.name));
    DSV4_SHAPE_STRUCTURE_FIELDS(DSV4_HASH_FIELD)
#undef DSV4_HASH_FIELD
    for (int l = 0; l < s.n_blocks() && l < max_layers; ++l) {
        mix(uint64_t(uint32_t(s.ratio(l))));
        mix(uint64_t(s.kind(l)));
    }
    return h;
}

// Copies a config type's members into a model_shape. A config may state `attention_kinds`
// (one per entry of compress_ratios); without it the reference's rule decides.
template <class Config>
constexpr model_shape shape_of() {
    model_shape s;
#define DSV4_COPY_FIELD(type, name, initial) s.name = Config::name;
    DSV4_SHAPE_SCALAR_FIELDS(DSV4_COPY_FIELD)
#undef DSV4_COPY_FIELD
    static_assert(Config::compress_ratios.size() == size_t(Config::n_layers + Config::n_mtp_layers),
                  "compress_ratios needs one entry per layer plus one per MTP layer");
    static_assert(Config::compress_ratios.size() <= size_t(max_layers), "too many layers");
    for (size_t i = 0; i < Config::compress_ratios.size(); ++i) s.compress_ratios[i] = Config::compress_ratios[i];
    s.set_reference_attention_kinds();
    if constexpr (requires { Config::attention_kinds; }) {
        static_assert(Config::attention_kinds.size() == Config::compress_ratios.size(),
                      "attention_kinds needs one entry per entry of compress_ratios");
        for (size_t i = 0; i < Config::attention_kinds.size(); ++i) s.attention_kinds[i] = Config::attention_kinds[i];
    }
    return s;
}

namespace detail {

constexpr bool layers_consistent(const model_shape& s) {
    for (int l = 0; l < s.n_blocks(); ++l) {
        const int r = s.ratio(l);
        const bool window = s.kind(l) == attention_kind::window;
        if (window != (r == 0) || r < 0 || r > max_compress_ratio) return false;
    }
    return true;
}
constexpr bool any_indexer(const model_shape& s) {
    for (int l = 0; l < s.n_blocks(); ++l)
        if (s.has_indexer(l)) return true;
    return false;
}
constexpr bool finite_positive(double v) { return v > 0 && v < 1e300; }
constexpr bool in_size_range(int v) { return v > 0 && v <= max_size; }

}  // namespace detail

// The structural rules of a shape, in order: X(name, message, holds). Each guards what the
// kernels and the state assume (divisibility, ranges that keep every index in bounds). The
// one list behind validate() (run time) and check_config<Config>() (compile time, where
// the failed rule's message is the compiler's).
#define DSV4_SHAPE_RULES(X)                                                                                          \
    X(positive_sizes,                                                                                                \
      "vocab_size, dim, n_layers, n_heads, head_dim, q_lora_rank, o_lora_rank, window_size, moe_inter_dim and "     \
      "n_routed_experts must be in [1, 2^20]",                                                                       \
      detail::in_size_range(s.vocab_size) && detail::in_size_range(s.dim) && detail::in_size_range(s.n_layers) &&   \
          detail::in_size_range(s.n_heads) && detail::in_size_range(s.head_dim) &&                                   \
          detail::in_size_range(s.q_lora_rank) && detail::in_size_range(s.o_lora_rank) &&                            \
          detail::in_size_range(s.window_size) && detail::in_size_range(s.moe_inter_dim) &&                          \
          detail::in_size_range(s.n_routed_experts))                                                                 \
    X(layer_count, "n_layers + n_mtp_layers must be at most 256 and n_mtp_layers >= 0",                             \
      s.n_mtp_layers >= 0 && s.n_layers + s.n_mtp_layers <= max_layers)                                             \
    X(rope_dim, "rope_head_dim must be even, positive and at most head_dim",                                        \
      s.rope_head_dim > 0 && s.rope_head_dim % 2 == 0 && s.rope_head_dim <= s.head_dim)                             \
    X(output_groups, "n_heads must be a multiple of o_groups", s.o_groups > 0 && s.n_heads % s.o_groups == 0)      \
    X(attention_layout,                                                                                              \
      "each layer's compress ratio must be 0 for a window layer and in [1, 1024] for a CSA or HCA layer",           \
      detail::layers_consistent(s))                                                                                  \
    X(shared_expert, "n_shared_experts must be 1", s.n_shared_experts == 1)                                         \
    X(activated_experts, "n_activated_experts must be in [1, n_routed_experts]",                                   \
      s.n_activated_experts > 0 && s.n_activated_experts <= s.n_routed_experts)                                     \
    X(hash_layers, "n_hash_layers must be in [0, n_layers]", s.n_hash_layers >= 0 && s.n_hash_layers <= s.n_layers) \
    X(indexer,                                                                                                       \
      "with CSA layers, index_n_heads and index_topk must be in [1, 2^20] and index_head_dim a power of two "       \
      "(Hadamard) of at least rope_head_dim",                                                                        \
      !detail::any_indexer(s) ||                                                                                     \
          (detail::in_size_range(s.index_n_heads) && detail::in_size_range(s.index_topk) &&                         \
           detail::in_size_range(s.index_head_dim) && s.index_head_dim >= s.rope_head_dim &&                        \
           (s.index_head_dim & (s.index_head_dim - 1)) == 0))                                                        \
    X(hyper_connections, "hc_mult must be in [1, 64] and hc_sinkhorn_iters in [1, 2^20]",                           \
      s.hc_mult > 0 && s.hc_mult <= 64 && detail::in_size_range(s.hc_sinkhorn_iters))                               \
    X(rope_scaling,                                                                                                  \
      "rope_theta, compress_rope_theta and rope_factor must be positive and finite, original_seq_len positive",     \
      detail::finite_positive(s.rope_theta) && detail::finite_positive(s.compress_rope_theta) &&                   \
          detail::finite_positive(s.rope_factor) && s.original_seq_len > 0)                                         \
    X(epsilons, "norm_eps must be positive and finite, hc_eps finite and >= 0, swiglu_limit and route_scale >= 0",  \
      detail::finite_positive(s.norm_eps) && s.hc_eps >= 0 && s.hc_eps < 1e300 && s.swiglu_limit >= 0 &&          \
          s.swiglu_limit < 1e300 && s.route_scale >= 0 && s.route_scale < 1e300)                                    \
    X(fp4_expert_widths,                                                                                             \
      "FP4 experts (expert_format = fp4_e2m1) need dim and moe_inter_dim multiples of 32; a variant with other "    \
      "widths sets expert_format (and dense_format) to weight_format::f32 or bf16",                                  \
      s.expert_format != weight_format::fp4_e2m1 || (s.dim % 32 == 0 && s.moe_inter_dim % 32 == 0))

// First violated structural rule of a shape, or an empty view when it is valid.
constexpr std::string_view validate(const model_shape& s) {
#define DSV4_CHECK_RULE(name, message, holds) \
    if (!(holds)) return message;
    DSV4_SHAPE_RULES(DSV4_CHECK_RULE)
#undef DSV4_CHECK_RULE
    return {};
}

template <class Config>
constexpr bool valid() {
    return validate(shape_of<Config>()).empty();
}

// Compile-time check of a config type: a violated rule fails with its own message
// ("invalid config: FP4 experts (expert_format = fp4_e2m1) need ..."). Used by model<Config>.
template <class Config>
constexpr bool check_config() {
    constexpr model_shape s = shape_of<Config>();
#define DSV4_ASSERT_RULE(name, message, holds) static_assert(holds, "invalid config: " message);
    DSV4_SHAPE_RULES(DSV4_ASSERT_RULE)
#undef DSV4_ASSERT_RULE
    return true;
}

}  // namespace dsv4
