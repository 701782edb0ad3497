// dsv4/io/tensor_names.hpp — the official tensor list of a checkpoint as the file holds it:
// every name, its release dtype and stored shape, from the one description of the list
// (config/tensor_list.hpp; docs/spec/ARCHITECTURE.md §9). Used to check a checkpoint
// completely and to make random ones.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>
#include <dsv4/tensor/dtype.hpp>

namespace dsv4 {

// The official name of tensor `t` (of expert `expert` for the expert_w* matrices), without
// the ".weight" / ".scale" of a matrix: "layers.3.attn.wq_a", "mtp.0.ffn.experts.7.w2".
inline std::string tensor_base_name(const model_shape& s, const tensor_desc& t, int expert = 0) {
    std::string name;
    if (t.block >= s.n_layers) name = "mtp." + std::to_string(t.block - s.n_layers) + ".";
    else if (t.block >= 0) name = "layers." + std::to_string(t.block) + ".";
    const std::string_view path = tensor_path(t.id);
    if (const size_t at = path.find("{e}"); at != std::string_view::npos) {
        name += path.substr(0, at);
        name += std::to_string(expert);
        name += path.substr(at + 3);
    } else {
        name += path;
    }
    return name;
}

// "<x>.weight" -> "<x>.scale": the e8m0 scales of a quantised matrix.
inline std::string scale_tensor_name(const std::string& weight_name) {
    const std::string_view suffix = ".weight";
    const bool has = weight_name.ends_with(suffix);
    return weight_name.substr(0, weight_name.size() - (has ? suffix.size() : 0)) + ".scale";
}

// The file name of a stored tensor: matrices are "<base>.weight" (+ "<base>.scale").
inline std::string tensor_name(const model_shape& s, const tensor_desc& t, int expert = 0) {
    return tensor_base_name(s, t, expert) + (t.is_matrix() ? ".weight" : "");
}

struct tensor_spec {
    std::string name;
    dtype type;
    std::vector<int64_t> shape;  // as stored (FP4: [out, in/2] bytes)
    tensor_desc desc;            // the logical tensor it stores (or holds the scales of)
    bool is_scale = false;       // the e8m0 scales of an FP8/FP4 matrix
};

// The dtype a float tensor of this format is stored in (FP4 is packed in I8 bytes).
constexpr dtype stored_dtype(weight_format f) {
    switch (f) {
        case weight_format::f32: return dtype::f32;
        case weight_format::bf16: return dtype::bf16;
        case weight_format::fp8_e4m3: return dtype::f8_e4m3;
        case weight_format::fp4_e2m1: return dtype::i8;
    }
    return dtype::f32;
}

// Every tensor of the release checkpoint of `s` (each matrix followed by its scales), in the
// list's order: main model first, then the MTP blocks.
inline std::vector<tensor_spec> release_tensor_specs(const model_shape& s) {
    std::vector<tensor_spec> out;
    for_each_tensor(s, [&](const tensor_desc& t) {
        for (int e = 0; e < t.experts; ++e) {
            const std::string base = tensor_base_name(s, t, e);
            if (t.role == tensor_role::index_table) {
                out.push_back({base, dtype::i64, {t.dims[0], t.dims[1]}, t});
                continue;
            }
            const weight_format f = storage_format(s, t.role);
            std::vector<int64_t> shape(t.dims.begin(), t.dims.begin() + t.rank);
            if (!t.is_matrix()) {
                out.push_back({base, stored_dtype(f), shape, t});
                continue;
            }
            const int64_t o = t.dims[0], i = t.dims[1];
            if (f == weight_format::fp4_e2m1) shape = {o, i / 2};
            out.push_back({base + ".weight", stored_dtype(f), shape, t});
            if (const auto grid = scale_grid_of(f, o, i); grid.count() > 0)
                out.push_back({base + ".scale", dtype::f8_e8m0, {grid.rows, grid.cols}, t, true});
        }
    });
    return out;
}

}  // namespace dsv4
