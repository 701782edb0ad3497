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
// `validate()` checks divisibility and ranges; `static_assert(valid<Config>())` pins it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace dsv4 {

// How a class of weights is stored in the release checkpoint (and so which kernel reads it).
enum class weight_format : uint8_t { f32, bf16, fp8_e4m3, fp4_e2m1 };

constexpr std::string_view to_string(weight_format f) {
    switch (f) {
        case weight_format::f32: return "f32";
        case weight_format::bf16: return "bf16";
        case weight_format::fp8_e4m3: return "fp8";
        case weight_format::fp4_e2m1: return "fp4";
    }
    return "?";
}

// Attention kind of a layer, from its compress ratio.
enum class attention_kind : uint8_t { window = 0, csa = 4, hca = 128 };

inline constexpr int max_layers = 256;  // capacity of model_shape::compress_ratios (main + MTP)

// Run-time mirror of a config type. Every field has the name of the inference key.
struct model_shape {
    int vocab_size = 0;
    int dim = 0;
    int n_layers = 0;
    int n_mtp_layers = 0;
    int n_heads = 0;
    int head_dim = 0;
    int rope_head_dim = 0;
    int q_lora_rank = 0;
    int o_groups = 0;
    int o_lora_rank = 0;
    int window_size = 0;
    std::array<int, max_layers> compress_ratios{};  // first n_layers + n_mtp_layers are used
    int n_routed_experts = 0;
    int n_shared_experts = 0;
    int n_activated_experts = 0;
    int moe_inter_dim = 0;
    int n_hash_layers = 0;
    double route_scale = 0;
    double swiglu_limit = 0;
    int index_n_heads = 0;
    int index_head_dim = 0;
    int index_topk = 0;
    double rope_theta = 0;
    double compress_rope_theta = 0;
    int original_seq_len = 0;
    double rope_factor = 0;
    int beta_fast = 0;
    int beta_slow = 0;
    int hc_mult = 0;
    int hc_sinkhorn_iters = 0;
    double hc_eps = 0;
    double norm_eps = 0;
    // storage formats of the release layout (dense Linear weights, routed experts)
    weight_format dense_format = weight_format::fp8_e4m3;
    weight_format expert_format = weight_format::fp4_e2m1;
    // current official revision clamps the shared expert's SwiGLU too (false = initial revision)
    bool shared_expert_clamp = true;

    // ---- derived sizes used everywhere
    constexpr int n_blocks() const { return n_layers + n_mtp_layers; }
    constexpr int ratio(int layer) const { return compress_ratios[static_cast<size_t>(layer)]; }
    constexpr int nope_dim() const { return head_dim - rope_head_dim; }
    constexpr int hc_dim() const { return hc_mult * dim; }
    constexpr int hc_mix() const { return (2 + hc_mult) * hc_mult; }
    constexpr int heads_per_group() const { return n_heads / o_groups; }
    constexpr int group_in_dim() const { return heads_per_group() * head_dim; }
    constexpr bool is_hash_layer(int layer) const { return layer < n_hash_layers && layer < n_layers; }
};

// Copies a config type's members into a model_shape.
template <class Config>
constexpr model_shape shape_of() {
    model_shape s;
    s.vocab_size = Config::vocab_size;
    s.dim = Config::dim;
    s.n_layers = Config::n_layers;
    s.n_mtp_layers = Config::n_mtp_layers;
    s.n_heads = Config::n_heads;
    s.head_dim = Config::head_dim;
    s.rope_head_dim = Config::rope_head_dim;
    s.q_lora_rank = Config::q_lora_rank;
    s.o_groups = Config::o_groups;
    s.o_lora_rank = Config::o_lora_rank;
    s.window_size = Config::window_size;
    static_assert(Config::compress_ratios.size() == size_t(Config::n_layers + Config::n_mtp_layers),
                  "compress_ratios needs one entry per layer plus one per MTP layer");
    static_assert(Config::compress_ratios.size() <= size_t(max_layers), "too many layers");
    for (size_t i = 0; i < Config::compress_ratios.size(); ++i) s.compress_ratios[i] = Config::compress_ratios[i];
    s.n_routed_experts = Config::n_routed_experts;
    s.n_shared_experts = Config::n_shared_experts;
    s.n_activated_experts = Config::n_activated_experts;
    s.moe_inter_dim = Config::moe_inter_dim;
    s.n_hash_layers = Config::n_hash_layers;
    s.route_scale = Config::route_scale;
    s.swiglu_limit = Config::swiglu_limit;
    s.index_n_heads = Config::index_n_heads;
    s.index_head_dim = Config::index_head_dim;
    s.index_topk = Config::index_topk;
    s.rope_theta = Config::rope_theta;
    s.compress_rope_theta = Config::compress_rope_theta;
    s.original_seq_len = Config::original_seq_len;
    s.rope_factor = Config::rope_factor;
    s.beta_fast = Config::beta_fast;
    s.beta_slow = Config::beta_slow;
    s.hc_mult = Config::hc_mult;
    s.hc_sinkhorn_iters = Config::hc_sinkhorn_iters;
    s.hc_eps = Config::hc_eps;
    s.norm_eps = Config::norm_eps;
    s.dense_format = Config::dense_format;
    s.expert_format = Config::expert_format;
    s.shared_expert_clamp = Config::shared_expert_clamp;
    return s;
}

// First violated structural rule of a shape, or an empty view when it is valid.
constexpr std::string_view validate(const model_shape& s) {
    if (s.vocab_size <= 0 || s.dim <= 0 || s.n_layers <= 0 || s.n_heads <= 0) return "sizes must be positive";
    if (s.n_layers + s.n_mtp_layers > max_layers) return "too many layers";
    if (s.rope_head_dim <= 0 || s.rope_head_dim % 2 != 0 || s.rope_head_dim > s.head_dim)
        return "rope_head_dim must be even and at most head_dim";
    if (s.o_groups <= 0 || s.n_heads % s.o_groups != 0) return "n_heads must be a multiple of o_groups";
    if (s.window_size <= 0) return "window_size must be positive";
    for (int l = 0; l < s.n_layers + s.n_mtp_layers; ++l) {
        const int r = s.compress_ratios[static_cast<size_t>(l)];
        if (r != 0 && r != 4 && r != 128) return "compress ratios must be 0, 4 or 128";
    }
    if (s.n_shared_experts != 1) return "n_shared_experts must be 1";
    if (s.n_activated_experts <= 0 || s.n_activated_experts > s.n_routed_experts)
        return "n_activated_experts must be in [1, n_routed_experts]";
    if (s.n_hash_layers < 0 || s.n_hash_layers > s.n_layers) return "n_hash_layers must be in [0, n_layers]";
    if (s.index_head_dim < s.rope_head_dim || (s.index_head_dim & (s.index_head_dim - 1)) != 0)
        return "index_head_dim must be a power of two (Hadamard) and at least rope_head_dim";
    if (s.hc_mult <= 0 || s.hc_sinkhorn_iters <= 0) return "hc_mult and hc_sinkhorn_iters must be positive";
    if (s.expert_format == weight_format::fp4_e2m1 && (s.dim % 32 != 0 || s.moe_inter_dim % 32 != 0))
        return "FP4 experts need dim and moe_inter_dim multiples of 32";
    return {};
}

template <class Config>
constexpr bool valid() {
    return validate(shape_of<Config>()).empty();
}

}  // namespace dsv4
