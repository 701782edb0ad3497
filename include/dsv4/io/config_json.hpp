// dsv4/io/config_json.hpp — reads a checkpoint's config.json and checks it against a
// compiled config.
//
// Both spellings are accepted: the official inference/config.json (ModelArgs field names)
// and the Hugging Face root config.json (hidden_size, num_hidden_layers, rope_scaling{...}).
// A mismatch with the compiled config is one dsv4::error listing every differing field.
// Storage dtypes are compared by kind: "fp8"/"fp4" must match the config's release
// formats; an unquantised file ("bf16", "fp32", no quantization_config) matches a config
// whose formats are f32 or bf16. Run-time sizes (max_batch_size, max_seq_len,
// max_position_embeddings) are not part of a config and are ignored.
#pragma once

#include <climits>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/json_in_message.hpp>

namespace dsv4 {

enum class config_spelling { inference, huggingface };

struct config_document {
    nlohmann::json json;
    config_spelling spelling = config_spelling::inference;
    std::string file;
};

inline config_document parse_config_json(std::string_view text, const std::string& file) {
    config_document d;
    d.file = file;
    try {
        d.json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail(file, ": not valid JSON: ", e.what());
    }
    if (!d.json.is_object()) fail(file, ": must be a JSON object");
    d.spelling = d.json.contains("hidden_size") || d.json.contains("num_hidden_layers") ? config_spelling::huggingface
                                                                                       : config_spelling::inference;
    return d;
}

inline config_document read_config_json(const std::string& path) { return parse_config_json(read_text_file(path), path); }

namespace detail {

enum class field_kind { integer, real, ratios };

struct config_field {
    const char* inference_key;
    const char* hf_key;        // "a.b" = nested object key; nullptr = absent from HF files
    field_kind kind;
    int model_shape::*int_member;
    double model_shape::*real_member;
    std::optional<double> default_value;  // used when the key is absent
};

inline const std::vector<config_field>& config_fields() {
    using K = field_kind;
    static const std::vector<config_field> fields = {
        {"vocab_size", "vocab_size", K::integer, &model_shape::vocab_size, nullptr, {}},
        {"dim", "hidden_size", K::integer, &model_shape::dim, nullptr, {}},
        {"n_layers", "num_hidden_layers", K::integer, &model_shape::n_layers, nullptr, {}},
        {"n_mtp_layers", "num_nextn_predict_layers", K::integer, &model_shape::n_mtp_layers, nullptr, 1.0},
        {"n_heads", "num_attention_heads", K::integer, &model_shape::n_heads, nullptr, {}},
        {"head_dim", "head_dim", K::integer, &model_shape::head_dim, nullptr, {}},
        {"rope_head_dim", "qk_rope_head_dim", K::integer, &model_shape::rope_head_dim, nullptr, {}},
        {"q_lora_rank", "q_lora_rank", K::integer, &model_shape::q_lora_rank, nullptr, {}},
        {"o_groups", "o_groups", K::integer, &model_shape::o_groups, nullptr, {}},
        {"o_lora_rank", "o_lora_rank", K::integer, &model_shape::o_lora_rank, nullptr, {}},
        {"window_size", "sliding_window", K::integer, &model_shape::window_size, nullptr, {}},
        {"compress_ratios", "compress_ratios", K::ratios, nullptr, nullptr, {}},
        {"n_routed_experts", "n_routed_experts", K::integer, &model_shape::n_routed_experts, nullptr, {}},
        {"n_shared_experts", "n_shared_experts", K::integer, &model_shape::n_shared_experts, nullptr, {}},
        {"n_activated_experts", "num_experts_per_tok", K::integer, &model_shape::n_activated_experts, nullptr, {}},
        {"moe_inter_dim", "moe_intermediate_size", K::integer, &model_shape::moe_inter_dim, nullptr, {}},
        {"n_hash_layers", "num_hash_layers", K::integer, &model_shape::n_hash_layers, nullptr, {}},
        {"route_scale", "routed_scaling_factor", K::real, nullptr, &model_shape::route_scale, {}},
        {"swiglu_limit", "swiglu_limit", K::real, nullptr, &model_shape::swiglu_limit, {}},
        {"index_n_heads", "index_n_heads", K::integer, &model_shape::index_n_heads, nullptr, {}},
        {"index_head_dim", "index_head_dim", K::integer, &model_shape::index_head_dim, nullptr, {}},
        {"index_topk", "index_topk", K::integer, &model_shape::index_topk, nullptr, {}},
        {"rope_theta", "rope_theta", K::real, nullptr, &model_shape::rope_theta, {}},
        {"compress_rope_theta", "compress_rope_theta", K::real, nullptr, &model_shape::compress_rope_theta, {}},
        {"original_seq_len", "rope_scaling.original_max_position_embeddings", K::integer, &model_shape::original_seq_len,
         nullptr, {}},
        {"rope_factor", "rope_scaling.factor", K::real, nullptr, &model_shape::rope_factor, {}},
        {"beta_fast", "rope_scaling.beta_fast", K::integer, &model_shape::beta_fast, nullptr, {}},
        {"beta_slow", "rope_scaling.beta_slow", K::integer, &model_shape::beta_slow, nullptr, {}},
        {"hc_mult", "hc_mult", K::integer, &model_shape::hc_mult, nullptr, {}},
        {"hc_sinkhorn_iters", "hc_sinkhorn_iters", K::integer, &model_shape::hc_sinkhorn_iters, nullptr, {}},
        {"hc_eps", "hc_eps", K::real, nullptr, &model_shape::hc_eps, 1e-6},
        {"norm_eps", "rms_norm_eps", K::real, nullptr, &model_shape::norm_eps, 1e-6},
    };
    return fields;
}

inline const nlohmann::json* lookup(const nlohmann::json& j, const std::string& dotted) {
    const nlohmann::json* cur = &j;
    size_t start = 0;
    while (true) {
        const size_t dot = dotted.find('.', start);
        const std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(part);
        if (it == cur->end() || it->is_null()) return nullptr;
        cur = &*it;
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

inline std::string ratios_string(const std::vector<int>& r) {
    std::string s = "[";
    for (size_t i = 0; i < r.size(); ++i) s += (i ? ", " : "") + std::to_string(r[i]);
    return s + "]";
}

// "fp8" / "fp4" / "unquantised" as the document states them.
inline std::string dense_kind(const config_document& d) {
    if (d.spelling == config_spelling::inference) {
        const auto* v = lookup(d.json, "dtype");
        return v && v->is_string() && v->get<std::string>() == "fp8" ? "fp8" : "unquantised";
    }
    const auto* q = lookup(d.json, "quantization_config.quant_method");
    return q && q->is_string() && q->get<std::string>() == "fp8" ? "fp8" : "unquantised";
}
inline std::string expert_kind(const config_document& d) {
    const auto* v = lookup(d.json, "expert_dtype");
    if (v && v->is_string()) return v->get<std::string>() == "fp4" ? "fp4" : v->get<std::string>();
    return dense_kind(d);
}
inline std::string format_kind(weight_format f) {
    return f == weight_format::fp8_e4m3 ? "fp8" : f == weight_format::fp4_e2m1 ? "fp4" : "unquantised";
}

}  // namespace detail

// Every difference between a config.json and a compiled shape, one line each; empty = match.
inline std::vector<std::string> config_differences(const config_document& d, const model_shape& s) {
    using namespace detail;
    std::vector<std::string> diffs;
    const bool hf = d.spelling == config_spelling::huggingface;
    for (const auto& f : config_fields()) {
        const std::string key = hf ? f.hf_key : f.inference_key;
        const nlohmann::json* v = lookup(d.json, key);
        const std::string label = "'" + key + "'";
        if (f.kind == field_kind::ratios) {
            std::vector<int> want(s.compress_ratios.begin(), s.compress_ratios.begin() + s.n_blocks());
            if (!v) {
                diffs.push_back(label + " is missing, compiled config has " + ratios_string(want));
                continue;
            }
            std::vector<int> got;
            bool ok = v->is_array();
            if (ok)
                for (auto& e : *v) {
                    // an entry outside int's range would wrap (4294967300 -> 4) and could match
                    const bool fits = e.is_number_unsigned() ? e.get<uint64_t>() <= uint64_t(INT_MAX)
                                      : e.is_number_integer() && e.get<int64_t>() >= INT_MIN && e.get<int64_t>() <= INT_MAX;
                    if (!fits) {
                        ok = false;
                        break;
                    }
                    got.push_back(e.get<int>());
                }
            if (!ok) diffs.push_back(label + " must be an array of integers");
            else if (got != want)
                diffs.push_back(label + " is " + ratios_string(got) + ", compiled config has " + ratios_string(want));
            continue;
        }
        const double want = f.kind == field_kind::integer ? double(s.*(f.int_member)) : s.*(f.real_member);
        double got;
        if (!v) {
            if (!f.default_value) {
                diffs.push_back(label + " is missing");
                continue;
            }
            got = *f.default_value;
        } else if (!v->is_number() || (f.kind == field_kind::integer && !v->is_number_integer())) {
            diffs.push_back(label + " must be " + (f.kind == field_kind::integer ? "an integer" : "a number"));
            continue;
        } else {
            got = v->get<double>();
        }
        const bool equal = f.kind == field_kind::integer ? got == want : std::fabs(got - want) <= 1e-12 * std::fabs(want);
        if (!equal) {
            std::ostringstream os;
            os << label << " is " << got << ", compiled config has " << want;
            diffs.push_back(os.str());
        }
    }
    const char* score_key = hf ? "scoring_func" : "score_func";
    if (const auto* v = lookup(d.json, score_key); v && (!v->is_string() || v->get<std::string>() != "sqrtsoftplus"))
        diffs.push_back(std::string("'") + score_key + "' is " + json_in_message(*v) + ", only \"sqrtsoftplus\" exists in V4");
    if (const auto k = dense_kind(d); k != format_kind(s.dense_format) &&
                                      !(k == "unquantised" && format_kind(s.dense_format) == "unquantised"))
        diffs.push_back("dense weight dtype is " + k + ", compiled config has " + format_kind(s.dense_format));
    if (const auto k = expert_kind(d); k != format_kind(s.expert_format))
        diffs.push_back("expert weight dtype is " + k + ", compiled config has " + format_kind(s.expert_format));
    return diffs;
}

// Throws a dsv4::error listing every difference (the name says which compiled config).
inline void check_config(const config_document& d, const model_shape& s, std::string_view config_name) {
    const auto diffs = config_differences(d, s);
    if (diffs.empty()) return;
    std::string msg = d.file + ": does not match the compiled config " + std::string(config_name) + " (" +
                      std::to_string(diffs.size()) + " field" + (diffs.size() > 1 ? "s" : "") + "):";
    for (const auto& line : diffs) msg += "\n  " + line;
    throw error(msg);
}

}  // namespace dsv4
