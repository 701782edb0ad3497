// dsv4/nn/weights.hpp — the model's weights as views into a loaded checkpoint.
//
// Matrices stay in their stored format (f32, bf16, FP8 + 128x128 e8m0 scales, FP4 +
// 1x32 e8m0 scales) inside the checkpoint (mapped files, or the caller's memory of an
// in-memory checkpoint); so do the small float vectors (norm weights, biases, mHC
// parameters, sinks, ape) stored in F32, while BF16 ones are decoded once into f32 arrays the
// weights own. Every float the model reads is thus either the checkpoint's own or a fixed
// decoding of it: a model over weights being trained sees each change in its next forward.
// Only the hash-routing tables (I64 in files) are copied, as int32. Every tensor is looked
// up by its official name and checked for dtype and shape; a missing or malformed one is
// a dsv4::error naming it. Names not used by the model are reported by unused_tensors().
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/tensor_names.hpp>
#include <dsv4/io/weight_tensor.hpp>
#include <dsv4/kernels/linear.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4::nn {

using kernels::linear_weight;
// A float vector (or small matrix) of the weights, read in place (see above).
using float_span = std::span<const float>;

struct compressor_weights {
    linear_weight wkv, wgate;  // [coff*d, D]
    float_span ape;            // [ratio, coff*d]
    float_span norm;           // [d]
};

struct indexer_weights {
    linear_weight wq_b;          // [ih*id, q_lora]
    linear_weight weights_proj;  // [ih, D]
    compressor_weights compressor;
};

struct attention_weights {
    float_span sink;  // [H]
    linear_weight wq_a, wq_b, wkv, wo_a, wo_b;
    float_span q_norm, kv_norm;
    bool has_compressor = false, has_indexer = false;
    compressor_weights compressor;
    indexer_weights indexer;
};

struct expert_weights {
    linear_weight w1, w2, w3;
};

struct moe_weights {
    linear_weight gate;              // [E, D]
    float_span gate_bias;            // [E] (score-routed layers)
    std::vector<int32_t> tid2eid;    // [vocab, k] (hash-routed layers)
    std::vector<expert_weights> experts;
    expert_weights shared;
};

struct hc_weights {
    float_span fn, base, scale;  // [mix, hc*D], [mix], [3]  (head: [hc, hc*D], [hc], [1])
};

struct block_weights {
    hc_weights hc_attn, hc_ffn;
    float_span attn_norm, ffn_norm;
    attention_weights attn;
    moe_weights ffn;
};

struct mtp_weights {
    block_weights block;
    linear_weight e_proj, h_proj;
    float_span enorm, hnorm, norm;
    hc_weights hc_head;
};

struct model_weights {
    const void* embed = nullptr;  // [V, D] f32 or bf16 rows
    bool embed_bf16 = false;
    linear_weight head;           // [V, D]
    float_span norm;
    hc_weights hc_head;
    std::vector<block_weights> layers;
    std::vector<mtp_weights> mtp;
    // the BF16-stored vectors decoded to f32, which their spans above view (move-only, so
    // the spans never point into another copy)
    std::vector<std::unique_ptr<float[]>> decoded;
};

// Reads weights from a checkpoint, checking names, dtypes and shapes against a shape. The
// tensors are those of the one tensor list (config/tensor_list.hpp), each put in its place.
class weight_loader {
public:
    // round_inputs: products round their input as the official inference does
    // (model_options::quantize_activations; kernels/act_quant.hpp).
    weight_loader(const checkpoint& ck, const model_shape& s, bool round_inputs = false)
        : ck_(ck), s_(s), round_inputs_(round_inputs) {}

    model_weights load() {
        model_weights w;
        w.layers.resize(size_t(s_.n_layers));
        w.mtp.resize(size_t(s_.n_mtp_layers));
        for (auto& b : w.layers) b.ffn.experts.resize(size_t(s_.n_routed_experts));
        for (auto& m : w.mtp) m.block.ffn.experts.resize(size_t(s_.n_routed_experts));
        for_each_tensor(s_, [&](const tensor_desc& t) {
            for (int e = 0; e < t.experts; ++e) place(w, t, e);
        });
        w.decoded = std::move(decoded_);
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
    // Reads tensor t (of expert e) into its field of w.
    void place(model_weights& w, const tensor_desc& t, int e) {
        const std::string name = tensor_name(s_, t, e);
        mtp_weights* mtp = t.block >= s_.n_layers ? &w.mtp[size_t(t.block - s_.n_layers)] : nullptr;
        block_weights* b = t.block < 0 ? nullptr : mtp ? &mtp->block : &w.layers[size_t(t.block)];
        hc_weights& head_hc = mtp ? mtp->hc_head : w.hc_head;
        using T = tensor_id;
        switch (t.id) {
            case T::embed: {
                const auto& emb = tensor(name, t, {dtype::f32, dtype::bf16});
                w.embed = emb.data;
                w.embed_bf16 = emb.type == dtype::bf16;
                return;
            }
            case T::head: w.head = matrix(name, t); return;
            case T::norm: (mtp ? mtp->norm : w.norm) = floats(name, t); return;
            case T::hc_head_fn: head_hc.fn = floats(name, t); return;
            case T::hc_head_base: head_hc.base = floats(name, t); return;
            case T::hc_head_scale: head_hc.scale = floats(name, t); return;
            case T::mtp_e_proj: mtp->e_proj = matrix(name, t); return;
            case T::mtp_h_proj: mtp->h_proj = matrix(name, t); return;
            case T::mtp_enorm: mtp->enorm = floats(name, t); return;
            case T::mtp_hnorm: mtp->hnorm = floats(name, t); return;
            default: break;
        }
        auto& a = b->attn;
        auto& f = b->ffn;
        switch (t.id) {
            case T::hc_attn_fn: b->hc_attn.fn = floats(name, t); return;
            case T::hc_attn_base: b->hc_attn.base = floats(name, t); return;
            case T::hc_attn_scale: b->hc_attn.scale = floats(name, t); return;
            case T::hc_ffn_fn: b->hc_ffn.fn = floats(name, t); return;
            case T::hc_ffn_base: b->hc_ffn.base = floats(name, t); return;
            case T::hc_ffn_scale: b->hc_ffn.scale = floats(name, t); return;
            case T::attn_norm: b->attn_norm = floats(name, t); return;
            case T::ffn_norm: b->ffn_norm = floats(name, t); return;
            case T::attn_sink: a.sink = floats(name, t); return;
            case T::wq_a: a.wq_a = matrix(name, t); return;
            case T::q_norm: a.q_norm = floats(name, t); return;
            case T::wq_b: a.wq_b = matrix(name, t); return;
            case T::wkv: a.wkv = matrix(name, t); return;
            case T::kv_norm: a.kv_norm = floats(name, t); return;
            case T::wo_a: a.wo_a = matrix(name, t); return;
            case T::wo_b: a.wo_b = matrix(name, t); return;
            case T::compressor_ape: a.has_compressor = true, a.compressor.ape = floats(name, t); return;
            case T::compressor_wkv: a.compressor.wkv = matrix(name, t); return;
            case T::compressor_wgate: a.compressor.wgate = matrix(name, t); return;
            case T::compressor_norm: a.compressor.norm = floats(name, t); return;
            case T::indexer_wq_b: a.has_indexer = true, a.indexer.wq_b = matrix(name, t); return;
            case T::indexer_weights_proj: a.indexer.weights_proj = matrix(name, t); return;
            case T::indexer_compressor_ape: a.indexer.compressor.ape = floats(name, t); return;
            case T::indexer_compressor_wkv: a.indexer.compressor.wkv = matrix(name, t); return;
            case T::indexer_compressor_wgate: a.indexer.compressor.wgate = matrix(name, t); return;
            case T::indexer_compressor_norm: a.indexer.compressor.norm = floats(name, t); return;
            case T::gate: f.gate = matrix(name, t); return;
            case T::gate_bias: f.gate_bias = floats(name, t); return;
            case T::gate_tid2eid: f.tid2eid = expert_table(name, t); return;
            case T::expert_w1: f.experts[size_t(e)].w1 = matrix(name, t); return;
            case T::expert_w2: f.experts[size_t(e)].w2 = matrix(name, t); return;
            case T::expert_w3: f.experts[size_t(e)].w3 = matrix(name, t); return;
            case T::shared_w1: f.shared.w1 = matrix(name, t); return;
            case T::shared_w2: f.shared.w2 = matrix(name, t); return;
            case T::shared_w3: f.shared.w3 = matrix(name, t); return;
            default: fail("weight_loader: no place for tensor '", name, "'");  // a tensor_id added without a field
        }
    }

    static std::vector<int64_t> logical_shape(const tensor_desc& t) { return {t.dims.begin(), t.dims.begin() + t.rank}; }

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
    const tensor_view& tensor(const std::string& name, const tensor_desc& t, std::initializer_list<dtype> types) {
        return tensor(name, logical_shape(t), types);
    }

    // A vector or small matrix of floats stored as f32 (viewed in place) or bf16 (decoded once).
    float_span floats(const std::string& name, const tensor_desc& d) {
        const auto& t = tensor(name, d, {dtype::f32, dtype::bf16});
        const size_t n = size_t(t.numel());
        if (t.type == dtype::f32) return {reinterpret_cast<const float*>(t.data), n};
        auto& v = decoded_.emplace_back(std::make_unique<float[]>(n));
        const auto* b = reinterpret_cast<const uint16_t*>(t.data);
        for (size_t i = 0; i < n; ++i) v[i] = decode_bf16(b[i]);
        return {v.get(), n};
    }

    // A matrix in any stored format, used in place: f32, bf16, FP8 and FP4 (with their .scale).
    // `name` is the ".weight" tensor.
    linear_weight matrix(const std::string& name, const tensor_desc& d) {
        const int64_t out = d.dims[0], in = d.dims[1];
        const tensor_view& t = ck_.at(name);
        linear_weight w;
        w.out = size_t(out);
        w.in = size_t(in);
        w.data = t.data;
        if (t.type == dtype::f8_e4m3) {
            tensor(name, {out, in}, {dtype::f8_e4m3});
            w.format = weight_format::fp8_e4m3;
            w.scale = scales(name, w);
        } else if (t.type == dtype::i8 || t.type == dtype::u8) {
            if (in % 32 != 0) fail(t.file, ": tensor '", t.name, "': FP4 weights need an input width divisible by 32, got ", in);
            tensor(name, {out, in / 2}, {dtype::i8, dtype::u8});
            w.format = weight_format::fp4_e2m1;
            w.scale = scales(name, w);
        } else {
            w.format = tensor(name, {out, in}, {dtype::f32, dtype::bf16}).type == dtype::f32 ? weight_format::f32
                                                                                           : weight_format::bf16;
        }
        if (round_inputs_) w.input = kernels::reference_input_rounding(w.format);
        return w;
    }

    // The e8m0 scales of quantised matrix w (its grid sets w.scale_cols); code 255 (NaN) is rejected.
    const uint8_t* scales(const std::string& weight_name, linear_weight& w) {
        const auto grid = scale_grid_of(w.format, int64_t(w.out), int64_t(w.in));
        w.scale_cols = size_t(grid.cols);
        const std::string name = scale_tensor_name(weight_name);
        const auto& t = tensor(name, {grid.rows, grid.cols}, {dtype::f8_e8m0});
        const auto* p = reinterpret_cast<const uint8_t*>(t.data);
        for (size_t i = 0; i < t.nbytes; ++i)
            if (p[i] == e8m0_nan) fail(t.file, ": tensor '", name, "': scale ", i, " is the e8m0 NaN code 255");
        return p;
    }

    // tid2eid: each entry an expert id in [0, n_routed_experts).
    std::vector<int32_t> expert_table(const std::string& name, const tensor_desc& d) {
        return expert_ids(tensor(name, d, {dtype::i64, dtype::i32}), s_.n_routed_experts);
    }

    const checkpoint& ck_;
    const model_shape& s_;
    bool round_inputs_ = false;
    std::set<std::string> used_;
    std::vector<std::unique_ptr<float[]>> decoded_;
};

}  // namespace dsv4::nn
