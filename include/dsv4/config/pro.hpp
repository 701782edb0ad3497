// dsv4/config/pro.hpp — DeepSeek-V4-Pro (official inference/config.json values).
#pragma once

#include <array>

#include <dsv4/config/flash.hpp>

namespace dsv4 {

// Pro shares Flash's structure; only sizes, the layer pattern and a few constants differ.
struct ProConfig : FlashConfig {
    static constexpr int dim = 7168;
    static constexpr int n_layers = 61;
    static constexpr int n_heads = 128;
    static constexpr int q_lora_rank = 1536;
    static constexpr int o_groups = 16;
    // [128, 128, (4, 128) x 29, 4, 0]: no window-only main layer; last entry = MTP block
    static constexpr std::array<int, 62> compress_ratios = {
        128, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4,
        128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128,
        4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0};
    static constexpr int n_routed_experts = 384;
    static constexpr int moe_inter_dim = 3072;
    static constexpr double route_scale = 2.5;
    static constexpr int index_topk = 1024;
};

static_assert(check_config<ProConfig>());
inline constexpr model_shape pro_shape = shape_of<ProConfig>();
inline constexpr checkpoint_layout pro_release_checkpoint = release_checkpoint(pro_shape);
static_assert(pro_release_checkpoint.tensors() == 145'116);
static_assert(pro_release_checkpoint.bytes() == 864'704'792'696);
static_assert(total_params(pro_shape) == 1'572'999'528'803);   // "1.6T"
static_assert(mtp_params(pro_shape) == 25'840'145'979);
static_assert(activated_params(pro_shape) == 48'854'729'059);  // "49B activated"
static_assert(kv_entries(pro_shape, 1 << 20).main_entries == 8'126'080);
static_assert(kv_entries(pro_shape, 1 << 20).indexer_entries == 7'864'320);
static_assert(kv_bytes_per_token(pro_shape, 1 << 20, kv_storage::reference_bf16) == 9'856);
static_assert(kv_bytes_per_token(pro_shape, 1 << 20, kv_storage::trained_precision) == 5'028);

}  // namespace dsv4
