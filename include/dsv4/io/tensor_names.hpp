// dsv4/io/tensor_names.hpp — the official tensor list of a checkpoint: every name, its
// release dtype and shape, derived from a model_shape (ARCHITECTURE.md §9, the golden
// README's name table). Used to check a checkpoint completely and to make random ones.
#pragma once

#include <string>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/tensor/dtype.hpp>

namespace dsv4 {

// What role a tensor plays, which decides how the loader reads it.
enum class tensor_role : uint8_t {
    linear_weight,   // [out, in] in the dense format (FP8 + scale, or plain float)
    linear_scale,    // e8m0 [ceil(out/128), ceil(in/128)]
    expert_weight,   // routed expert [out, in] (FP4 packed [out, in/2] + scale, or plain)
    expert_scale,    // e8m0 [out, in/32]
    small_float,     // norms, embeddings, head, compressor, gate, weights_proj: BF16 in the release
    f32_param,       // mHC params, attn_sink, ape, gate.bias: F32 always
    index_table,     // tid2eid: I64
};

struct tensor_spec {
    std::string name;
    dtype type;
    std::vector<int64_t> shape;
    tensor_role role;
};

namespace detail {

struct spec_builder {
    const model_shape& s;
    std::vector<tensor_spec>& out;

    dtype float_type() const { return s.dense_format == weight_format::f32 ? dtype::f32 : dtype::bf16; }
    static dtype plain_type(weight_format f) {
        return f == weight_format::f32 ? dtype::f32 : f == weight_format::bf16 ? dtype::bf16 : dtype::f8_e4m3;
    }
    void add(std::string name, dtype t, std::vector<int64_t> shape, tensor_role r) {
        out.push_back({std::move(name), t, std::move(shape), r});
    }
    void small(const std::string& name, std::vector<int64_t> shape) { add(name, float_type(), std::move(shape), tensor_role::small_float); }
    void f32(const std::string& name, std::vector<int64_t> shape) { add(name, dtype::f32, std::move(shape), tensor_role::f32_param); }
    void linear(const std::string& prefix, int64_t o, int64_t i) {
        add(prefix + ".weight", plain_type(s.dense_format), {o, i}, tensor_role::linear_weight);
        if (s.dense_format == weight_format::fp8_e4m3)
            add(prefix + ".scale", dtype::f8_e8m0, {(o + 127) / 128, (i + 127) / 128}, tensor_role::linear_scale);
    }
    void expert(const std::string& prefix, int64_t o, int64_t i) {
        if (s.expert_format == weight_format::fp4_e2m1) {
            add(prefix + ".weight", dtype::i8, {o, i / 2}, tensor_role::expert_weight);
            add(prefix + ".scale", dtype::f8_e8m0, {o, i / 32}, tensor_role::expert_scale);
        } else {
            add(prefix + ".weight", plain_type(s.expert_format), {o, i}, tensor_role::expert_weight);
            if (s.expert_format == weight_format::fp8_e4m3)
                add(prefix + ".scale", dtype::f8_e8m0, {(o + 127) / 128, (i + 127) / 128}, tensor_role::linear_scale);
        }
    }
    void block(const std::string& p, int layer, bool hashed) {
        const int64_t D = s.dim, hd = s.head_dim, q = s.q_lora_rank, H = s.n_heads;
        const int r = s.ratio(layer);
        for (const char* site : {"attn", "ffn"}) {
            f32(p + ".hc_" + site + "_fn", {s.hc_mix(), s.hc_dim()});
            f32(p + ".hc_" + site + "_base", {s.hc_mix()});
            f32(p + ".hc_" + site + "_scale", {3});
        }
        small(p + ".attn_norm.weight", {D});
        small(p + ".ffn_norm.weight", {D});
        const std::string a = p + ".attn";
        f32(a + ".attn_sink", {H});
        linear(a + ".wq_a", q, D);
        small(a + ".q_norm.weight", {q});
        linear(a + ".wq_b", H * hd, q);
        linear(a + ".wkv", hd, D);
        small(a + ".kv_norm.weight", {hd});
        linear(a + ".wo_a", int64_t(s.o_groups) * s.o_lora_rank, s.group_in_dim());
        linear(a + ".wo_b", D, int64_t(s.o_groups) * s.o_lora_rank);
        if (r > 0) {
            const int64_t c = r == 4 ? 2 : 1;
            f32(a + ".compressor.ape", {r, c * hd});
            small(a + ".compressor.wkv.weight", {c * hd, D});
            small(a + ".compressor.wgate.weight", {c * hd, D});
            small(a + ".compressor.norm.weight", {hd});
        }
        if (r == 4) {
            const int64_t ih = s.index_n_heads, id = s.index_head_dim;
            linear(a + ".indexer.wq_b", ih * id, q);
            small(a + ".indexer.weights_proj.weight", {ih, D});
            f32(a + ".indexer.compressor.ape", {4, 2 * id});
            small(a + ".indexer.compressor.wkv.weight", {2 * id, D});
            small(a + ".indexer.compressor.wgate.weight", {2 * id, D});
            small(a + ".indexer.compressor.norm.weight", {id});
        }
        const std::string f = p + ".ffn";
        const int64_t E = s.n_routed_experts, I = s.moe_inter_dim;
        small(f + ".gate.weight", {E, D});
        if (hashed)
            add(f + ".gate.tid2eid", dtype::i64, {s.vocab_size, s.n_activated_experts}, tensor_role::index_table);
        else
            f32(f + ".gate.bias", {E});
        for (int64_t e = 0; e < E; ++e) {
            const std::string ep = f + ".experts." + std::to_string(e);
            expert(ep + ".w1", I, D);
            expert(ep + ".w2", D, I);
            expert(ep + ".w3", I, D);
        }
        linear(f + ".shared_experts.w1", I, D);
        linear(f + ".shared_experts.w2", D, I);
        linear(f + ".shared_experts.w3", I, D);
    }
    void head(const std::string& p) {
        f32(p + "hc_head_fn", {s.hc_mult, s.hc_dim()});
        f32(p + "hc_head_base", {s.hc_mult});
        f32(p + "hc_head_scale", {1});
    }
};

}  // namespace detail

// Every tensor of the release checkpoint of `s`, main model first, then the MTP blocks.
inline std::vector<tensor_spec> release_tensor_specs(const model_shape& s) {
    std::vector<tensor_spec> out;
    detail::spec_builder b{s, out};
    b.small("embed.weight", {s.vocab_size, s.dim});
    b.small("head.weight", {s.vocab_size, s.dim});
    b.small("norm.weight", {s.dim});
    b.head("");
    for (int l = 0; l < s.n_layers; ++l) b.block("layers." + std::to_string(l), l, s.is_hash_layer(l));
    for (int m = 0; m < s.n_mtp_layers; ++m) {
        const std::string p = "mtp." + std::to_string(m);
        b.block(p, s.n_layers + m, false);
        b.linear(p + ".e_proj", s.dim, s.dim);
        b.linear(p + ".h_proj", s.dim, s.dim);
        b.small(p + ".enorm.weight", {s.dim});
        b.small(p + ".hnorm.weight", {s.dim});
        b.small(p + ".norm.weight", {s.dim});
        b.head(p + ".");
    }
    return out;
}

}  // namespace dsv4
