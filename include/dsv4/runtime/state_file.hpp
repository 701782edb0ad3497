// dsv4/runtime/state_file.hpp — a sequence's whole state saved to / loaded from a file.
//
// The file is safetensors (F32 state tensors, I32 token history) with the positions and
// the model shape's fingerprint (dsv4::fingerprint) in __metadata__. Loading checks every tensor's shape
// against the model shape and fails with a dsv4::error naming the file and the tensor;
// writing is atomic (temporary file + rename).
#pragma once

#include <charconv>
#include <string>
#include <system_error>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/safetensors.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/nn/sequence_state.hpp>

namespace dsv4 {

namespace detail {

// Calls f(name, vector) for every state array; Layers is const for saving, mutable for loading.
template <class Layers, class F>
void for_each_layer_tensor(Layers& layers, const std::string& prefix, F&& f) {
    for (size_t l = 0; l < layers.size(); ++l) {
        const std::string p = prefix + std::to_string(l) + ".";
        f(p + "window", layers[l].window);
        f(p + "compressed", layers[l].compressed);
        f(p + "index_keys", layers[l].index_keys);
        f(p + "compressor.kv", layers[l].compressor.kv);
        f(p + "compressor.score", layers[l].compressor.score);
        f(p + "index_compressor.kv", layers[l].index_compressor.kv);
        f(p + "index_compressor.score", layers[l].index_compressor.score);
    }
}

}  // namespace detail

// Writes the state (without marks) to `path`.
inline void save_state(const sequence_state& seq, const model_shape& s, const std::string& path) {
    if (seq.shape_fingerprint() != fingerprint(s))
        fail("save_state: ", path, ": the sequence state was made for another model shape (fingerprint ",
             hex(seq.shape_fingerprint()), ", the given shape's is ", hex(fingerprint(s)), ")");
    std::vector<tensor_to_write> out;
    auto add = [&](const std::string& name, const std::vector<float>& v) {
        out.push_back(tensor_to_write::from(name, dtype::f32, {int64_t(v.size())}, v));
    };
    detail::for_each_layer_tensor(seq.layers(), "layers.", add);
    detail::for_each_layer_tensor(seq.mtp_layers(), "mtp.", add);
    out.push_back(tensor_to_write::from("tokens", dtype::i32, {int64_t(seq.tokens().size())}, seq.tokens()));
    write_safetensors(path, std::move(out),
                      {{"dsv4.state", "2"},
                       {"position", std::to_string(seq.position())},
                       {"mtp_position", std::to_string(seq.mtp_position())},
                       {"capacity", std::to_string(seq.capacity())},
                       {"shape", hex(fingerprint(s))}});
}

inline sequence_state load_state(const model_shape& s, const std::string& path) {
    safetensors_file f(path);
    const auto& md = f.metadata();
    auto field = [&](const char* k) -> const std::string& {
        auto it = md.find(k);
        if (it == md.end()) fail(path, ": not a dsv4 sequence state (metadata '", k, "' missing)");
        return it->second;
    };
    if (field("dsv4.state") != "2") fail(path, ": sequence state format ", field("dsv4.state"), ", expected 2");
    if (field("shape") != hex(fingerprint(s)))
        fail(path, ": state was saved for the model shape with fingerprint ", field("shape"), ", this model's is ",
             hex(fingerprint(s)));
    auto number = [&](const char* k) {
        const std::string& text = field(k);
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || text.empty())
            fail(path, ": metadata '", k, "' = \"", text, "\" is not a decimal integer");
        return v;
    };
    const int64_t position = number("position"), mtp_position = number("mtp_position"), capacity = number("capacity");
    // The MTP block runs on the main model's streams of the same positions: it cannot be ahead.
    if (position < 0 || mtp_position < 0 || position > capacity || mtp_position > position)
        fail(path, ": positions ", position, " (main) / ", mtp_position, " (MTP) must satisfy 0 <= MTP <= main <= capacity ",
             capacity);
    sequence_state seq(s, capacity);
    auto read = [&](const std::string& name, std::vector<float>& v) {
        const auto& t = f.at(name);
        if (t.type != dtype::f32 || t.shape.size() != 1) fail(path, ": tensor '", name, "' must be a 1-D F32 tensor");
        const size_t n = size_t(t.shape[0]);
        // fixed-size parts must keep their size; growing parts must be whole entries
        const bool growing = name.ends_with("compressed") || name.ends_with("index_keys");
        if (!growing && n != v.size()) fail(path, ": tensor '", name, "' has ", n, " values, expected ", v.size());
        const size_t width = name.ends_with("index_keys") ? size_t(s.index_head_dim) : size_t(s.head_dim);
        if (growing && n % width != 0) fail(path, ": tensor '", name, "' is not a whole number of ", width, "-wide entries");
        const float* p = t.as<float>(dtype::f32);
        v.assign(p, p + n);
    };
    detail::for_each_layer_tensor(seq.layers(), "layers.", read);
    detail::for_each_layer_tensor(seq.mtp_layers(), "mtp.", read);
    const auto& tok = f.at("tokens");
    if (tok.type != dtype::i32 || tok.shape.size() != 1 || tok.shape[0] != position)
        fail(path, ": tensor 'tokens' must be I32 [", position, "]");
    const auto* tp = tok.as<int32_t>(dtype::i32);
    for (int64_t p = 0; p < position; ++p)
        if (tp[p] < 0 || tp[p] >= s.vocab_size)
            fail(path, ": tensor 'tokens' value ", p, " is ", tp[p], ", expected a token id in [0, ", s.vocab_size, ")");
    seq.tokens_mut().assign(tp, tp + position);
    seq.set_positions(position, mtp_position);
    // Each layer holds exactly the compressed entries (and CSA indexer keys) its position has
    // produced: one per `ratio` tokens; the attention reads as many as the position implies.
    auto check_entries = [&](const std::vector<layer_state>& layers, const std::string& prefix, int first_layer, int64_t pos) {
        for (size_t l = 0; l < layers.size(); ++l) {
            const layer_state& L = layers[l];
            const int layer = first_layer + int(l), ratio = s.ratio(layer);
            const size_t entries = s.has_compressor(layer) ? size_t(pos / ratio) : 0;
            const std::string name = prefix + std::to_string(l) + ".";
            if (L.compressed.size() != entries * size_t(s.head_dim))
                fail(path, ": tensor '", name, "compressed' has ", L.compressed.size(), " values; position ", pos,
                     " at compress ratio ", ratio, " implies ", entries, " entries of ", s.head_dim);
            const size_t keys = s.has_indexer(layer) ? entries : 0;  // only CSA layers have an indexer
            if (L.index_keys.size() != keys * size_t(s.index_head_dim))
                fail(path, ": tensor '", name, "index_keys' has ", L.index_keys.size(), " values; position ", pos,
                     " at compress ratio ", ratio, " implies ", keys, " entries of ", s.index_head_dim);
        }
    };
    check_entries(seq.layers(), "layers.", 0, position);
    check_entries(seq.mtp_layers(), "mtp.", s.n_layers, mtp_position);
    return seq;
}

}  // namespace dsv4
