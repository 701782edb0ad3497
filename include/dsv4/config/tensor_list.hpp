// dsv4/config/tensor_list.hpp — the official tensor list of a shape, described once.
//
// for_each_tensor(shape, f) calls f(tensor_desc) for every logical tensor of the release
// checkpoint (docs/spec/ARCHITECTURE.md §9): what it is (tensor_id), how it is stored
// (tensor_role), its logical shape and where it sits (block). A routed-expert matrix is
// visited once for all experts of its block (experts = n_routed_experts; its name has the
// expert index "{e}"), which keeps the walk short enough for constant evaluation. Scale
// tensors are not visited: they follow from a matrix's storage format. Everything that needs the list walks
// this one description: the constexpr totals (config/derived.hpp), the names, dtypes and
// shapes of the file (io/tensor_names.hpp), the loader (nn/weights.hpp), and the
// benchmark's matrix uses. It is constexpr and allocates nothing, so derived figures of
// Flash and Pro (69,187 and 145,116 tensors) are compile-time constants.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <dsv4/config/config.hpp>

namespace dsv4 {

// How a tensor is stored in the release layout, which decides how it is read.
enum class tensor_role : uint8_t {
    linear,       // [out, in] matrix in the dense format (FP8 + 128x128 e8m0 scales, or plain float)
    expert,       // routed-expert [out, in] matrix in the expert format (FP4 + 1x32 e8m0 scales, ...)
    small_float,  // norms, embeddings, head, compressor, gate, weights_proj: BF16 in the release
    f32_param,    // mHC parameters, attn_sink, ape, gate.bias: F32 always
    index_table,  // gate.tid2eid: I64 expert ids of hash-routed layers
};

// Every kind of tensor, each with its path below its block (see tensor_path).
enum class tensor_id : uint8_t {
    // outside the blocks (the MTP blocks repeat the hc_head_* three and norm)
    embed, head, norm, hc_head_fn, hc_head_base, hc_head_scale,
    // every block
    hc_attn_fn, hc_attn_base, hc_attn_scale, hc_ffn_fn, hc_ffn_base, hc_ffn_scale, attn_norm, ffn_norm,
    attn_sink, wq_a, q_norm, wq_b, wkv, kv_norm, wo_a, wo_b,
    // CSA and HCA layers
    compressor_ape, compressor_wkv, compressor_wgate, compressor_norm,
    // CSA layers
    indexer_wq_b, indexer_weights_proj, indexer_compressor_ape, indexer_compressor_wkv, indexer_compressor_wgate,
    indexer_compressor_norm,
    // MoE
    gate, gate_tid2eid, gate_bias, expert_w1, expert_w2, expert_w3, shared_w1, shared_w2, shared_w3,
    // MTP blocks only
    mtp_e_proj, mtp_h_proj, mtp_enorm, mtp_hnorm,
};
// How many tensor_ids there are, for tables indexed by them (mtp_hnorm stays last).
inline constexpr int tensor_id_count = int(tensor_id::mtp_hnorm) + 1;

// The official name below the block prefix ("layers.3." / "mtp.0." / none); matrices
// (linear, expert) get ".weight" and, when quantised, ".scale" appended; "{e}" is the expert.
constexpr std::string_view tensor_path(tensor_id id) {
    switch (id) {
        case tensor_id::embed: return "embed.weight";
        case tensor_id::head: return "head.weight";
        case tensor_id::norm: return "norm.weight";
        case tensor_id::hc_head_fn: return "hc_head_fn";
        case tensor_id::hc_head_base: return "hc_head_base";
        case tensor_id::hc_head_scale: return "hc_head_scale";
        case tensor_id::hc_attn_fn: return "hc_attn_fn";
        case tensor_id::hc_attn_base: return "hc_attn_base";
        case tensor_id::hc_attn_scale: return "hc_attn_scale";
        case tensor_id::hc_ffn_fn: return "hc_ffn_fn";
        case tensor_id::hc_ffn_base: return "hc_ffn_base";
        case tensor_id::hc_ffn_scale: return "hc_ffn_scale";
        case tensor_id::attn_norm: return "attn_norm.weight";
        case tensor_id::ffn_norm: return "ffn_norm.weight";
        case tensor_id::attn_sink: return "attn.attn_sink";
        case tensor_id::wq_a: return "attn.wq_a";
        case tensor_id::q_norm: return "attn.q_norm.weight";
        case tensor_id::wq_b: return "attn.wq_b";
        case tensor_id::wkv: return "attn.wkv";
        case tensor_id::kv_norm: return "attn.kv_norm.weight";
        case tensor_id::wo_a: return "attn.wo_a";
        case tensor_id::wo_b: return "attn.wo_b";
        case tensor_id::compressor_ape: return "attn.compressor.ape";
        case tensor_id::compressor_wkv: return "attn.compressor.wkv.weight";
        case tensor_id::compressor_wgate: return "attn.compressor.wgate.weight";
        case tensor_id::compressor_norm: return "attn.compressor.norm.weight";
        case tensor_id::indexer_wq_b: return "attn.indexer.wq_b";
        case tensor_id::indexer_weights_proj: return "attn.indexer.weights_proj.weight";
        case tensor_id::indexer_compressor_ape: return "attn.indexer.compressor.ape";
        case tensor_id::indexer_compressor_wkv: return "attn.indexer.compressor.wkv.weight";
        case tensor_id::indexer_compressor_wgate: return "attn.indexer.compressor.wgate.weight";
        case tensor_id::indexer_compressor_norm: return "attn.indexer.compressor.norm.weight";
        case tensor_id::gate: return "ffn.gate.weight";
        case tensor_id::gate_tid2eid: return "ffn.gate.tid2eid";
        case tensor_id::gate_bias: return "ffn.gate.bias";
        case tensor_id::expert_w1: return "ffn.experts.{e}.w1";
        case tensor_id::expert_w2: return "ffn.experts.{e}.w2";
        case tensor_id::expert_w3: return "ffn.experts.{e}.w3";
        case tensor_id::shared_w1: return "ffn.shared_experts.w1";
        case tensor_id::shared_w2: return "ffn.shared_experts.w2";
        case tensor_id::shared_w3: return "ffn.shared_experts.w3";
        case tensor_id::mtp_e_proj: return "e_proj";
        case tensor_id::mtp_h_proj: return "h_proj";
        case tensor_id::mtp_enorm: return "enorm.weight";
        case tensor_id::mtp_hnorm: return "hnorm.weight";
    }
    return "?";
}

struct tensor_desc {
    tensor_id id{};
    tensor_role role{};
    int rank = 1;
    std::array<int64_t, 2> dims{};  // logical shape: [n] or [out, in] (FP4 packing not applied)
    int block = -1;                 // -1 outside the blocks; n_layers + m for MTP block m
    int experts = 1;                // copies: n_routed_experts for the expert_w* matrices, else 1

    // elements of one copy
    constexpr int64_t numel() const { return rank == 1 ? dims[0] : dims[0] * dims[1]; }
    constexpr bool is_matrix() const { return role == tensor_role::linear || role == tensor_role::expert; }
};

// The stored format of a float tensor of the release layout (index tables are I64).
constexpr weight_format storage_format(const model_shape& s, tensor_role r) {
    switch (r) {
        case tensor_role::linear: return s.dense_format;
        case tensor_role::expert: return s.expert_format;
        case tensor_role::small_float: return s.dense_format == weight_format::f32 ? weight_format::f32 : weight_format::bf16;
        case tensor_role::f32_param:
        case tensor_role::index_table: return weight_format::f32;
    }
    return weight_format::f32;
}

namespace detail {

template <class F>
constexpr void visit_block(const model_shape& s, int block, F& f) {
    const int64_t D = s.dim, hd = s.head_dim, q = s.q_lora_rank, H = s.n_heads, r = s.ratio(block);
    auto vec = [&](tensor_id id, tensor_role role, int64_t n) { f(tensor_desc{id, role, 1, {n, 0}, block, 1}); };
    auto mat = [&](tensor_id id, tensor_role role, int64_t out, int64_t in, int copies = 1) {
        f(tensor_desc{id, role, 2, {out, in}, block, copies});
    };
    using R = tensor_role;
    using T = tensor_id;
    mat(T::hc_attn_fn, R::f32_param, s.hc_mix(), s.hc_dim());
    vec(T::hc_attn_base, R::f32_param, s.hc_mix());
    vec(T::hc_attn_scale, R::f32_param, 3);
    mat(T::hc_ffn_fn, R::f32_param, s.hc_mix(), s.hc_dim());
    vec(T::hc_ffn_base, R::f32_param, s.hc_mix());
    vec(T::hc_ffn_scale, R::f32_param, 3);
    vec(T::attn_norm, R::small_float, D);
    vec(T::ffn_norm, R::small_float, D);
    vec(T::attn_sink, R::f32_param, H);
    mat(T::wq_a, R::linear, q, D);
    vec(T::q_norm, R::small_float, q);
    mat(T::wq_b, R::linear, H * hd, q);
    mat(T::wkv, R::linear, hd, D);
    vec(T::kv_norm, R::small_float, hd);
    mat(T::wo_a, R::linear, int64_t(s.o_groups) * s.o_lora_rank, s.group_in_dim());
    mat(T::wo_b, R::linear, D, int64_t(s.o_groups) * s.o_lora_rank);
    if (s.has_compressor(block)) {
        const int64_t c = s.compressor_coff(block);
        mat(T::compressor_ape, R::f32_param, r, c * hd);
        mat(T::compressor_wkv, R::small_float, c * hd, D);
        mat(T::compressor_wgate, R::small_float, c * hd, D);
        vec(T::compressor_norm, R::small_float, hd);
    }
    if (s.has_indexer(block)) {
        const int64_t ih = s.index_n_heads, id = s.index_head_dim;
        mat(T::indexer_wq_b, R::linear, ih * id, q);
        mat(T::indexer_weights_proj, R::small_float, ih, D);
        mat(T::indexer_compressor_ape, R::f32_param, r, 2 * id);
        mat(T::indexer_compressor_wkv, R::small_float, 2 * id, D);
        mat(T::indexer_compressor_wgate, R::small_float, 2 * id, D);
        vec(T::indexer_compressor_norm, R::small_float, id);
    }
    const int64_t E = s.n_routed_experts, I = s.moe_inter_dim;
    mat(T::gate, R::small_float, E, D);
    if (s.is_hash_layer(block))
        mat(T::gate_tid2eid, R::index_table, s.vocab_size, s.n_activated_experts);
    else
        vec(T::gate_bias, R::f32_param, E);
    mat(T::expert_w1, R::expert, I, D, int(E));
    mat(T::expert_w2, R::expert, D, I, int(E));
    mat(T::expert_w3, R::expert, I, D, int(E));
    mat(T::shared_w1, R::linear, I, D);
    mat(T::shared_w2, R::linear, D, I);
    mat(T::shared_w3, R::linear, I, D);
}

template <class F>
constexpr void visit_head_hc(const model_shape& s, int block, F& f) {
    f(tensor_desc{tensor_id::hc_head_fn, tensor_role::f32_param, 2, {s.hc_mult, s.hc_dim()}, block, 1});
    f(tensor_desc{tensor_id::hc_head_base, tensor_role::f32_param, 1, {s.hc_mult, 0}, block, 1});
    f(tensor_desc{tensor_id::hc_head_scale, tensor_role::f32_param, 1, {1, 0}, block, 1});
}

}  // namespace detail

// Every tensor of the release checkpoint of `s` in the official order: embedding, head,
// final norm and hc_head, the main blocks, then each MTP block (block, projections, norms,
// its own hc_head).
template <class F>
constexpr void for_each_tensor(const model_shape& s, F&& f) {
    const int64_t D = s.dim, V = s.vocab_size;
    using R = tensor_role;
    f(tensor_desc{tensor_id::embed, R::small_float, 2, {V, D}, -1, 1});
    f(tensor_desc{tensor_id::head, R::small_float, 2, {V, D}, -1, 1});
    f(tensor_desc{tensor_id::norm, R::small_float, 1, {D, 0}, -1, 1});
    detail::visit_head_hc(s, -1, f);
    for (int l = 0; l < s.n_layers; ++l) detail::visit_block(s, l, f);
    for (int m = 0; m < s.n_mtp_layers; ++m) {
        const int b = s.n_layers + m;
        detail::visit_block(s, b, f);
        f(tensor_desc{tensor_id::mtp_e_proj, R::linear, 2, {D, D}, b, 1});
        f(tensor_desc{tensor_id::mtp_h_proj, R::linear, 2, {D, D}, b, 1});
        f(tensor_desc{tensor_id::mtp_enorm, R::small_float, 1, {D, 0}, b, 1});
        f(tensor_desc{tensor_id::mtp_hnorm, R::small_float, 1, {D, 0}, b, 1});
        f(tensor_desc{tensor_id::norm, R::small_float, 1, {D, 0}, b, 1});
        detail::visit_head_hc(s, b, f);
    }
}

}  // namespace dsv4
