// dsv4/config/mini.hpp — small configs: the golden test models and the benchmark model.
//
// FlashMiniConfig / ProMiniConfig match the tiny random-weight checkpoints of the golden
// data (tests/data/golden); their files store every weight in f32 (FlashMiniFp8Config: the
// same shapes in the release FP8/FP4 layout). BenchMiniConfig is the one shape of every
// speed measurement: Flash's layer pattern scaled down, release storage formats.
#pragma once

#include <array>

#include <dsv4/config/flash.hpp>

namespace dsv4 {

struct FlashMiniConfig : FlashConfig {
    static constexpr int vocab_size = 256;
    static constexpr int dim = 64;
    static constexpr int n_layers = 3;
    static constexpr int n_heads = 4;
    static constexpr int head_dim = 64;
    static constexpr int rope_head_dim = 16;
    static constexpr int q_lora_rank = 64;
    static constexpr int o_groups = 2;
    static constexpr int o_lora_rank = 128;
    static constexpr int window_size = 64;
    static constexpr std::array<int, 4> compress_ratios = {0, 4, 128, 0};
    static constexpr int n_routed_experts = 8;
    static constexpr int n_activated_experts = 3;
    static constexpr int moe_inter_dim = 32;
    static constexpr int n_hash_layers = 1;
    static constexpr int index_n_heads = 16;
    static constexpr int index_head_dim = 32;
    static constexpr int index_topk = 16;
    static constexpr int original_seq_len = 256;
    static constexpr weight_format dense_format = weight_format::f32;
    static constexpr weight_format expert_format = weight_format::f32;
};

struct FlashMiniFp8Config : FlashMiniConfig {
    static constexpr weight_format dense_format = weight_format::fp8_e4m3;
    static constexpr weight_format expert_format = weight_format::fp4_e2m1;
};

struct ProMiniConfig : FlashConfig {
    static constexpr int vocab_size = 384;
    static constexpr int dim = 96;
    static constexpr int n_layers = 2;
    static constexpr int n_heads = 4;
    static constexpr int head_dim = 96;
    static constexpr int rope_head_dim = 32;
    static constexpr int q_lora_rank = 48;
    static constexpr int o_groups = 4;
    static constexpr int o_lora_rank = 32;
    static constexpr int window_size = 128;
    static constexpr std::array<int, 3> compress_ratios = {128, 4, 0};
    static constexpr int n_routed_experts = 12;
    static constexpr int n_activated_experts = 6;
    static constexpr int moe_inter_dim = 16;
    static constexpr int n_hash_layers = 2;
    static constexpr double route_scale = 2.5;
    static constexpr double swiglu_limit = 4.0;
    static constexpr int index_n_heads = 16;
    static constexpr int index_head_dim = 32;
    static constexpr int index_topk = 96;
    static constexpr double compress_rope_theta = 40000.0;
    static constexpr int original_seq_len = 512;
    static constexpr double rope_factor = 4.0;
    static constexpr weight_format dense_format = weight_format::f32;
    static constexpr weight_format expert_format = weight_format::f32;
};

// flash-mini's shape with the V4 vocabulary (129,280 ids), for running the text layer
// end to end on a random-weight model.
struct ChatTinyConfig : FlashMiniConfig {
    static constexpr int vocab_size = 129280;
};

struct BenchMiniConfig : FlashConfig {
    static constexpr int vocab_size = 32000;
    static constexpr int dim = 1024;
    static constexpr int n_layers = 8;
    static constexpr int n_heads = 16;
    static constexpr int q_lora_rank = 1024;
    static constexpr int o_groups = 8;
    static constexpr int o_lora_rank = 1024;
    static constexpr std::array<int, 9> compress_ratios = {0, 0, 4, 128, 4, 128, 4, 128, 0};
    static constexpr int n_routed_experts = 64;
    static constexpr int moe_inter_dim = 512;
};

}  // namespace dsv4
