// dsv4/config/flash.hpp — DeepSeek-V4-Flash (official inference/config.json values).
#pragma once

#include <array>

#include <dsv4/config/config.hpp>
#include <dsv4/config/derived.hpp>

namespace dsv4 {

struct FlashConfig {
    static constexpr int vocab_size = 129280;
    static constexpr int dim = 4096;
    static constexpr int n_layers = 43;
    static constexpr int n_mtp_layers = 1;
    static constexpr int n_heads = 64;
    static constexpr int head_dim = 512;
    static constexpr int rope_head_dim = 64;
    static constexpr int q_lora_rank = 1024;
    static constexpr int o_groups = 8;
    static constexpr int o_lora_rank = 1024;
    static constexpr int window_size = 128;
    // [0, 0, (4, 128) x 20, 4, 0]: SWA, SWA, then CSA/HCA alternating; last entry = MTP block
    static constexpr std::array<int, 44> compress_ratios = {
        0, 0, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128,
        4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0};
    static constexpr int n_routed_experts = 256;
    static constexpr int n_shared_experts = 1;
    static constexpr int n_activated_experts = 6;
    static constexpr int moe_inter_dim = 2048;
    static constexpr int n_hash_layers = 3;
    static constexpr double route_scale = 1.5;
    static constexpr double swiglu_limit = 10.0;
    static constexpr int index_n_heads = 64;
    static constexpr int index_head_dim = 128;
    static constexpr int index_topk = 512;
    static constexpr double rope_theta = 10000.0;
    static constexpr double compress_rope_theta = 160000.0;
    static constexpr int original_seq_len = 65536;
    static constexpr double rope_factor = 16.0;
    static constexpr int beta_fast = 32;
    static constexpr int beta_slow = 1;
    static constexpr int hc_mult = 4;
    static constexpr int hc_sinkhorn_iters = 20;
    static constexpr double hc_eps = 1e-6;
    static constexpr double norm_eps = 1e-6;
    static constexpr weight_format dense_format = weight_format::fp8_e4m3;
    static constexpr weight_format expert_format = weight_format::fp4_e2m1;
    static constexpr bool shared_expert_clamp = true;
};

// Published figures, recomputed from the shape (docs/spec/ARCHITECTURE.md §1.1, §9.1, §11.2).
static_assert(check_config<FlashConfig>());
inline constexpr model_shape flash_shape = shape_of<FlashConfig>();
inline constexpr checkpoint_layout flash_release_checkpoint = release_checkpoint(flash_shape);
static_assert(flash_release_checkpoint.tensors() == 69'187);
static_assert(flash_release_checkpoint.bytes() == 159'609'485'896);
static_assert(total_params(flash_shape) == 284'334'567'511);   // "284B"
static_assert(mtp_params(flash_shape) == 6'610'048'891);
static_assert(activated_params(flash_shape) == 13'272'428'631);  // "13B activated"
static_assert(kv_entries(flash_shape, 1 << 20).main_entries == 5'674'368);
static_assert(kv_entries(flash_shape, 1 << 20).indexer_entries == 5'505'024);
static_assert(kv_bytes_per_token(flash_shape, 1 << 20, kv_storage::reference_bf16) == 6'885);
static_assert(kv_bytes_per_token(flash_shape, 1 << 20, kv_storage::trained_precision) == 3'512);

}  // namespace dsv4
