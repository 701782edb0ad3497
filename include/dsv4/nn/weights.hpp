// dsv4/nn/weights.hpp — the model's weights as views into a loaded checkpoint.
//
// Matrices stay in their stored format (f32, bf16, FP8 + 128x128 e8m0 scales, FP4 +
// 1x32 e8m0 scales) inside the mapped files; only the small vectors (norm weights,
// biases, mHC parameters, sinks, ape) are copied into f32 arrays. Every tensor is looked
// up by its official name and checked for dtype and shape; a missing or malformed one is
// a dsv4::error naming it. Names not used by the model are reported by unused_tensors().
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/kernels/linear.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4::nn {

using kernels::linear_weight;
using fvec = std::vector<float>;

struct compressor_weights {
    linear_weight wkv, wgate;  // [coff*d, D]
    fvec ape;                  // [ratio, coff*d]
    fvec norm;                 // [d]
};

struct indexer_weights {
    linear_weight wq_b;          // [ih*id, q_lora]
    linear_weight weights_proj;  // [ih, D]
    compressor_weights compressor;
};

struct attention_weights {
    fvec sink;  // [H]
    linear_weight wq_a, wq_b, wkv, wo_a, wo_b;
    fvec q_norm, kv_norm;
    bool has_compressor = false, has_indexer = false;
    compressor_weights compressor;
    indexer_weights indexer;
};

struct expert_weights {
    linear_weight w1, w2, w3;
};

struct moe_weights {
    linear_weight gate;              // [E, D]
    fvec gate_bias;                  // [E] (score-routed layers)
    std::vector<int32_t> tid2eid;    // [vocab, k] (hash-routed layers)
    std::vector<expert_weights> experts;
    expert_weights shared;
};

struct hc_weights {
    fvec fn, base, scale;  // [mix, hc*D], [mix], [3]  (head: [hc, hc*D], [hc], [1])
};

struct block_weights {
    hc_weights hc_attn, hc_ffn;
    fvec attn_norm, ffn_norm;
    attention_weights attn;
    moe_weights ffn;
};

struct mtp_weights {
    block_weights block;
    linear_weight e_proj, h_proj;
    fvec enorm, hnorm, norm;
    hc_weights hc_head;
};

struct model_weights {
    const void* embed = nullptr;  // [V, D] f32 or bf16 rows
    bool embed_bf16 = false;
    linear_weight head;           // [V, D]
    fvec norm;
    hc_weights hc_head;
    std::vector<block_weights> layers;
    std::vector<mtp_weights> mtp;
};

// Reads weights from a checkpoint, checking names, dtypes and shapes against a shape.
class weight_loader {
public:
    // round_inputs: products round their input as the official inference does
    // (model_options::quantize_activations; kernels/act_quant.hpp).
    weight_loader(const checkpoint& ck, const model_shape& s, bool round_inputs = false)
        : ck_(ck), s_(s), round_inputs_(round_inputs) {}

    model_weights load() {
        model_weights w;
        const auto& emb = tensor("embed.weight", {s_.vocab_size, s_.dim}, {dtype::f32, dtype::bf16});
        w.embed = emb.data;
        w.embed_bf16 = emb.type == dtype::bf16;
        w.head = plain_linear("head", s_.vocab_size, s_.dim);
        w.norm = vector("norm.weight", s_.dim);
        w.hc_head = head_hc("");
        for (int l = 0; l < s_.n_layers; ++l) w.layers.push_back(block("layers." + std::to_string(l), l));
        for (int m = 0; m < s_.n_mtp_layers; ++m) {
            const std::string p = "mtp." + std::to_string(m);
            mtp_weights mw;
            mw.block = block(p, s_.n_layers + m);
            mw.e_proj = linear(p + ".e_proj", s_.dim, s_.dim);
            mw.h_proj = linear(p + ".h_proj", s_.dim, s_.dim);
            mw.enorm = vector(p + ".enorm.weight", s_.dim);
            mw.hnorm = vector(p + ".hnorm.weight", s_.dim);
            mw.norm = vector(p + ".norm.weight", s_.dim);
            mw.hc_head = head_hc(p + ".");
            w.mtp.push_back(std::move(mw));
        }
        return w;
    }

    // Checkpoint tensors the model did not read (e.g. from another variant).
    std::vector<std::string> unused_tensors() const {
        std::vector<std::string> out;
        for (const auto& n : ck_.names())
            if (!used_.count(n)) out.push_back(n);
        return out;
    }

private:
    const tensor_view& tensor(const std::string& name, std::vector<int64_t> shape, std::initializer_list<dtype> types) {
        const tensor_view& t = ck_.at(name);
        bool ok = false;
        for (auto d : types) ok = ok || t.type == d;
        if (!ok) {
            std::string want;
            for (auto d : types) want += (want.empty() ? "" : " or ") + std::string(dtype_name(d));
            fail(t.file, ": tensor '", name, "' has dtype ", dtype_name(t.type), ", expected ", want);
        }
        checkpoint::check(t, t.type, shape);
        used_.insert(name);
        return t;
    }

    // A vector of floats stored as f32 or bf16, copied to f32.
    fvec vector(const std::string& name, int64_t n) { return floats(name, {n}); }
    fvec floats(const std::string& name, std::vector<int64_t> shape) {
        const auto& t = tensor(name, std::move(shape), {dtype::f32, dtype::bf16});
        fvec v(size_t(t.numel()));
        if (t.type == dtype::f32) {
            std::memcpy(v.data(), t.data, v.size() * 4);
        } else {
            const auto* b = reinterpret_cast<const uint16_t*>(t.data);
            for (size_t i = 0; i < v.size(); ++i) v[i] = decode_bf16(b[i]);
        }
        return v;
    }

    // An unquantised matrix (f32 or bf16), e.g. head, gate, compressor projections.
    linear_weight plain_linear(const std::string& name, int64_t out, int64_t in) {
        const auto& t = tensor(name + ".weight", {out, in}, {dtype::f32, dtype::bf16});
        linear_weight w;
        w.format = t.type == dtype::f32 ? weight_format::f32 : weight_format::bf16;
        w.data = t.data;
        w.out = size_t(out);
        w.in = size_t(in);
        if (round_inputs_) w.input = kernels::reference_input_rounding(w.format);
        return w;
    }

    // A Linear in any stored format; FP8 and FP4 need their .scale tensor.
    linear_weight linear(const std::string& prefix, int64_t out, int64_t in) {
        const tensor_view& t = ck_.at(prefix + ".weight");
        linear_weight w;
        w.out = size_t(out);
        w.in = size_t(in);
        if (t.type == dtype::f8_e4m3) {
            tensor(prefix + ".weight", {out, in}, {dtype::f8_e4m3});
            w.format = weight_format::fp8_e4m3;
            w.scale_cols = size_t((in + 127) / 128);
            w.scale = scales(prefix + ".scale", {(out + 127) / 128, (in + 127) / 128});
        } else if (t.type == dtype::i8 || t.type == dtype::u8) {
            if (in % 32 != 0) fail(t.file, ": tensor '", t.name, "': FP4 weights need an input width divisible by 32, got ", in);
            tensor(prefix + ".weight", {out, in / 2}, {dtype::i8, dtype::u8});
            w.format = weight_format::fp4_e2m1;
            w.scale_cols = size_t(in / 32);
            w.scale = scales(prefix + ".scale", {out, in / 32});
        } else {
            return plain_linear(prefix, out, in);
        }
        w.data = t.data;
        if (round_inputs_) w.input = kernels::reference_input_rounding(w.format);
        return w;
    }

    // e8m0 block scales; code 255 (NaN) is rejected.
    const uint8_t* scales(const std::string& name, std::vector<int64_t> shape) {
        const auto& t = tensor(name, std::move(shape), {dtype::f8_e8m0});
        const auto* p = reinterpret_cast<const uint8_t*>(t.data);
        for (size_t i = 0; i < t.nbytes; ++i)
            if (p[i] == e8m0_nan) fail(t.file, ": tensor '", name, "': scale ", i, " is the e8m0 NaN code 255");
        return p;
    }

    hc_weights site_hc(const std::string& p, const std::string& site) {
        hc_weights h;
        h.fn = floats(p + ".hc_" + site + "_fn", {s_.hc_mix(), s_.hc_dim()});
        h.base = vector(p + ".hc_" + site + "_base", s_.hc_mix());
        h.scale = vector(p + ".hc_" + site + "_scale", 3);
        return h;
    }
    hc_weights head_hc(const std::string& p) {
        hc_weights h;
        h.fn = floats(p + "hc_head_fn", {s_.hc_mult, s_.hc_dim()});
        h.base = vector(p + "hc_head_base", s_.hc_mult);
        h.scale = vector(p + "hc_head_scale", 1);
        return h;
    }

    compressor_weights compressor(const std::string& p, int ratio, int64_t d) {
        const int64_t c = ratio == 4 ? 2 : 1;
        compressor_weights cw;
        cw.wkv = plain_linear(p + ".wkv", c * d, s_.dim);
        cw.wgate = plain_linear(p + ".wgate", c * d, s_.dim);
        cw.ape = floats(p + ".ape", {ratio, c * d});
        cw.norm = vector(p + ".norm.weight", d);
        return cw;
    }

    block_weights block(const std::string& p, int layer) {
        block_weights b;
        const int64_t D = s_.dim, hd = s_.head_dim, q = s_.q_lora_rank, H = s_.n_heads;
        b.hc_attn = site_hc(p, "attn");
        b.hc_ffn = site_hc(p, "ffn");
        b.attn_norm = vector(p + ".attn_norm.weight", D);
        b.ffn_norm = vector(p + ".ffn_norm.weight", D);
        auto& a = b.attn;
        const std::string ap = p + ".attn";
        a.sink = vector(ap + ".attn_sink", H);
        a.wq_a = linear(ap + ".wq_a", q, D);
        a.q_norm = vector(ap + ".q_norm.weight", q);
        a.wq_b = linear(ap + ".wq_b", H * hd, q);
        a.wkv = linear(ap + ".wkv", hd, D);
        a.kv_norm = vector(ap + ".kv_norm.weight", hd);
        a.wo_a = linear(ap + ".wo_a", int64_t(s_.o_groups) * s_.o_lora_rank, s_.group_in_dim());
        a.wo_b = linear(ap + ".wo_b", D, int64_t(s_.o_groups) * s_.o_lora_rank);
        const int r = s_.ratio(layer);
        if (r > 0) {
            a.has_compressor = true;
            a.compressor = compressor(ap + ".compressor", r, hd);
        }
        if (r == 4) {
            a.has_indexer = true;
            a.indexer.wq_b = linear(ap + ".indexer.wq_b", int64_t(s_.index_n_heads) * s_.index_head_dim, q);
            a.indexer.weights_proj = plain_linear(ap + ".indexer.weights_proj", s_.index_n_heads, D);
            a.indexer.compressor = compressor(ap + ".indexer.compressor", 4, s_.index_head_dim);
        }
        auto& f = b.ffn;
        const std::string fp = p + ".ffn";
        const int64_t E = s_.n_routed_experts, I = s_.moe_inter_dim, k = s_.n_activated_experts;
        f.gate = plain_linear(fp + ".gate", E, D);
        if (s_.is_hash_layer(layer)) {
            const auto& t = tensor(fp + ".gate.tid2eid", {s_.vocab_size, k}, {dtype::i64, dtype::i32});
            f.tid2eid.resize(size_t(t.numel()));
            for (size_t i = 0; i < f.tid2eid.size(); ++i) {
                const int64_t e = t.type == dtype::i64 ? reinterpret_cast<const int64_t*>(t.data)[i]
                                                       : reinterpret_cast<const int32_t*>(t.data)[i];
                if (e < 0 || e >= E)
                    fail(t.file, ": tensor '", t.name, "': entry ", i, " is expert ", e, ", expected [0, ", E, ")");
                f.tid2eid[i] = int32_t(e);
            }
        } else {
            f.gate_bias = vector(fp + ".gate.bias", E);
        }
        for (int64_t e = 0; e < E; ++e) {
            const std::string ep = fp + ".experts." + std::to_string(e);
            f.experts.push_back({linear(ep + ".w1", I, D), linear(ep + ".w2", D, I), linear(ep + ".w3", I, D)});
        }
        f.shared = {linear(fp + ".shared_experts.w1", I, D), linear(fp + ".shared_experts.w2", D, I),
                    linear(fp + ".shared_experts.w3", I, D)};
        return b;
    }

    const checkpoint& ck_;
    const model_shape& s_;
    bool round_inputs_ = false;
    std::set<std::string> used_;
};

}  // namespace dsv4::nn
