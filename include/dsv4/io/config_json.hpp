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

// An integer of int's range (a larger one would wrap, e.g. 4294967300 -> 4, and could match).
inline std::optional<int> int_value(const nlohmann::json& e) {
    const bool fits = e.is_number_unsigned() ? e.get<uint64_t>() <= uint64_t(INT_MAX)
                      : e.is_number_integer() && e.get<int64_t>() >= INT_MIN && e.get<int64_t>() <= INT_MAX;
    if (!fits) return std::nullopt;
    return e.get<int>();
}

// compress_ratios as integers, or nullopt when it is not an array of ints.
inline std::optional<std::vector<int>> int_array(const nlohmann::json& v) {
    if (!v.is_array()) return std::nullopt;
    std::vector<int> out;
    for (auto& e : v) {
        const auto i = int_value(e);
        if (!i) return std::nullopt;
        out.push_back(*i);
    }
    return out;
}

// The layers' attention kinds a document states: its "attention_kinds" (a dsv4 key, one of
// "window", "csa", "hca" per layer) when present, else the reference's rule on the ratios.
// Empty with a problem appended when the key is malformed.
inline std::vector<attention_kind> document_kinds(const config_document& d, const std::vector<int>& ratios,
                                                  std::vector<std::string>& problems) {
    std::vector<attention_kind> kinds;
    const nlohmann::json* v = lookup(d.json, "attention_kinds");
    if (!v) {
        for (int r : ratios) kinds.push_back(reference_attention_kind(r));
        return kinds;
    }
    bool ok = v->is_array() && v->size() == ratios.size();
    for (size_t i = 0; ok && i < v->size(); ++i) {
        const auto& e = (*v)[i];
        ok = false;
        for (auto k : {attention_kind::window, attention_kind::csa, attention_kind::hca})
            if (e.is_string() && e.get<std::string>() == to_string(k)) {
                kinds.push_back(k);
                ok = true;
            }
    }
    if (!ok) {
        problems.push_back("'attention_kinds' must be an array of \"window\", \"csa\" or \"hca\", one per entry of "
                           "'compress_ratios' (" + std::to_string(ratios.size()) + ")");
        kinds.clear();
    }
    return kinds;
}

inline std::string kinds_string(const std::vector<attention_kind>& k) {
    std::string s = "[";
    for (size_t i = 0; i < k.size(); ++i) s += (i ? ", " : "") + std::string(to_string(k[i]));
    return s + "]";
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
            const auto got = int_array(*v);
            if (!got) {
                diffs.push_back(label + " must be an array of integers");
                continue;
            }
            if (*got != want)
                diffs.push_back(label + " is " + ratios_string(*got) + ", compiled config has " + ratios_string(want));
            const auto kinds = document_kinds(d, *got, diffs);
            const std::vector<attention_kind> want_kinds(s.attention_kinds.begin(), s.attention_kinds.begin() + s.n_blocks());
            if (!kinds.empty() && *got == want && kinds != want_kinds)
                diffs.push_back("attention kinds are " + kinds_string(kinds) + ", compiled config has " +
                                kinds_string(want_kinds));
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

// The shape a config.json describes: the run-time route to a model for any variant's
// checkpoint folder. Every key is read as config_differences reads it (defaults for hc_eps,
// norm_eps and n_mtp_layers); storage formats follow the document's dtype / expert_dtype
// (unquantised: bf16). A missing or malformed key, or a shape that breaks a structural rule
// (dsv4::validate), is a dsv4::error naming the file.
inline model_shape shape_from_config(const config_document& d) {
    using namespace detail;
    model_shape s;
    std::vector<std::string> problems;
    const bool hf = d.spelling == config_spelling::huggingface;
    std::vector<int> ratios;
    for (const auto& f : config_fields()) {
        const std::string key = hf ? f.hf_key : f.inference_key;
        const nlohmann::json* v = lookup(d.json, key);
        const std::string label = "'" + key + "'";
        if (f.kind == field_kind::ratios) {
            const auto got = v ? int_array(*v) : std::nullopt;
            if (!got) problems.push_back(label + (v ? " must be an array of integers" : " is missing"));
            else ratios = *got;
            continue;
        }
        if (!v && !f.default_value) {
            problems.push_back(label + " is missing");
        } else if (f.kind == field_kind::integer) {
            const auto i = v ? int_value(*v) : std::optional<int>(int(*f.default_value));
            if (!i) problems.push_back(label + " must be an integer of int's range");
            else s.*(f.int_member) = *i;
        } else if (v && !v->is_number()) {
            problems.push_back(label + " must be a number");
        } else {
            s.*(f.real_member) = v ? v->get<double>() : *f.default_value;
        }
    }
    if (const auto* v = lookup(d.json, hf ? "scoring_func" : "score_func");
        v && (!v->is_string() || v->get<std::string>() != "sqrtsoftplus"))
        problems.push_back(std::string("'") + (hf ? "scoring_func" : "score_func") +
                           "' must be \"sqrtsoftplus\" (the only V4 scoring function)");
    if (problems.empty() && ratios.size() != size_t(s.n_layers) + size_t(s.n_mtp_layers))
        problems.push_back("'compress_ratios' has " + std::to_string(ratios.size()) + " entries, expected one per layer and MTP "
                           "layer (" + std::to_string(int64_t(s.n_layers) + s.n_mtp_layers) + ")");
    if (problems.empty() && ratios.size() > size_t(max_layers))
        problems.push_back("'compress_ratios' has " + std::to_string(ratios.size()) + " entries, at most " +
                           std::to_string(max_layers) + " are supported");
    if (problems.empty()) {
        std::copy(ratios.begin(), ratios.end(), s.compress_ratios.begin());
        const auto kinds = document_kinds(d, ratios, problems);
        std::copy(kinds.begin(), kinds.end(), s.attention_kinds.begin());
    }
    const std::string dense = dense_kind(d), expert = expert_kind(d);
    s.dense_format = dense == "fp8" ? weight_format::fp8_e4m3 : weight_format::bf16;
    if (expert == "fp4") s.expert_format = weight_format::fp4_e2m1;
    else if (expert == "fp8") s.expert_format = weight_format::fp8_e4m3;
    else if (expert == "unquantised") s.expert_format = s.dense_format == weight_format::fp8_e4m3 ? weight_format::bf16 : s.dense_format;
    else problems.push_back("'expert_dtype' is \"" + expert + "\", expected \"fp4\", \"fp8\" or absent");
    if (!problems.empty()) {
        std::string msg = d.file + ": cannot describe a model (" + std::to_string(problems.size()) + " problem" +
                          (problems.size() > 1 ? "s" : "") + "):";
        for (const auto& line : problems) msg += "\n  " + line;
        throw error(msg);
    }
    if (const auto why = validate(s); !why.empty()) fail(d.file, ": the shape it describes is invalid: ", why);
    return s;
}

// The inference-spelling config.json of a shape (what shape_from_config reads back).
inline nlohmann::ordered_json config_json_of(const model_shape& s) {
    using namespace detail;
    nlohmann::ordered_json j;
    for (const auto& f : config_fields()) {
        if (f.kind == field_kind::ratios)
            j[f.inference_key] = std::vector<int>(s.compress_ratios.begin(), s.compress_ratios.begin() + s.n_blocks());
        else if (f.kind == field_kind::integer)
            j[f.inference_key] = s.*(f.int_member);
        else
            j[f.inference_key] = s.*(f.real_member);
    }
    bool reference_kinds = true;
    for (int l = 0; l < s.n_blocks(); ++l) reference_kinds = reference_kinds && s.kind(l) == reference_attention_kind(s.ratio(l));
    if (!reference_kinds) {
        std::vector<std::string> kinds;
        for (int l = 0; l < s.n_blocks(); ++l) kinds.emplace_back(to_string(s.kind(l)));
        j["attention_kinds"] = kinds;
    }
    j["score_func"] = "sqrtsoftplus";
    j["dtype"] = s.dense_format == weight_format::fp8_e4m3 ? "fp8" : "bf16";
    if (s.expert_format == weight_format::fp4_e2m1) j["expert_dtype"] = "fp4";
    else if (s.expert_format == weight_format::fp8_e4m3) j["expert_dtype"] = "fp8";
    return j;
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
