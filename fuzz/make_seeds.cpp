// Writes the valid safetensors seeds of fuzz/corpus/fuzz_safetensors_header into the folder
// given as the first argument, and the sequence-state seeds of fuzz/corpus/fuzz_state_file
// into the second (built with the fuzz targets; run by hand when the writer's layout
// changes). The malformed safetensors seeds are edited copies of these.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/runtime/state_file.hpp>

#include "tiny_state_shape.hpp"

namespace {

// A state of tiny_state_shape() at `position` (MTP block at `mtp_position`) as a model would
// leave it: one compressed entry (and indexer key) per `ratio` tokens, recognisable values.
dsv4::sequence_state tiny_state(int64_t capacity, int64_t position, int64_t mtp_position) {
    const dsv4::model_shape s = dsv4::fuzz::tiny_state_shape();
    dsv4::sequence_state seq(s, capacity);
    auto fill = [&](dsv4::layer_state& l, int64_t pos) {
        for (size_t i = 0; i < l.window.size(); ++i) l.window[i] = 0.25f * float(i % 7);
        if (l.ratio == 0) return;
        l.compressed.assign(size_t(pos / l.ratio) * size_t(s.head_dim), 0.5f);
        if (l.index_head_dim) l.index_keys.assign(size_t(pos / l.ratio) * l.index_head_dim, -0.5f);  // CSA layers
    };
    for (auto& l : seq.layers()) fill(l, position);
    for (auto& l : seq.mtp_layers()) fill(l, mtp_position);
    for (int64_t p = 0; p < position; ++p) seq.tokens_mut().push_back(int32_t((p * 37) % s.vocab_size));
    seq.set_positions(position, mtp_position);
    return seq;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s SAFETENSORS_SEED_FOLDER STATE_SEED_FOLDER\n", argv[0]);
        return 2;
    }
    using dsv4::dtype;
    using dsv4::tensor_to_write;
    const std::string dir = argv[1];
    auto write = [&](const std::string& name, std::vector<tensor_to_write> tensors,
                     const std::map<std::string, std::string>& metadata = {}) {
        dsv4::write_file_atomically(dir + "/" + name, dsv4::safetensors_image(std::move(tensors), metadata));
    };
    write("valid_two_tensors",
          {tensor_to_write::from<float>("a", dtype::f32, {2, 3}, {1, 2, 3, 4, 5, 6}),
           tensor_to_write::from<uint16_t>("b", dtype::bf16, {3}, {0x3F80, 0x4000, 0xC040})},
          {{"format", "pt"}});
    write("valid_empty_and_scalar",
          {tensor_to_write::from<float>("empty", dtype::f32, {0, 4}, std::vector<float>{}),
           tensor_to_write::from<double>("scalar", dtype::f64, {}, {3.5})});
    write("valid_fp8_layout",
          {tensor_to_write::from<uint8_t>("layers.0.ffn.w1.weight", dtype::f8_e4m3, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}),
           tensor_to_write::from<uint8_t>("layers.0.ffn.w1.scale", dtype::f8_e8m0, {1, 1}, {127}),
           tensor_to_write::from<int8_t>("layers.0.ffn.experts.0.w1.weight", dtype::i8, {2, 2}, {1, -1, 2, -2}),
           tensor_to_write::from<int64_t>("tid2eid", dtype::i64, {2}, {0, 1}),
           tensor_to_write::from<uint16_t>("norm.weight", dtype::f16, {2}, {0x3C00, 0x3C00})});
    write("valid_no_tensors", {}, {{"note", "metadata only"}});

    const std::string state_dir = argv[2];
    const dsv4::model_shape tiny = dsv4::fuzz::tiny_state_shape();
    dsv4::save_state(tiny_state(16, 0, 0), tiny, state_dir + "/valid_empty");
    dsv4::save_state(tiny_state(16, 9, 8), tiny, state_dir + "/valid_position_9");
    dsv4::save_state(tiny_state(16, 16, 16), tiny, state_dir + "/valid_full_capacity");
    // Inconsistent states (as a corrupted or hand-edited file would hold) that load_state must
    // refuse: each breaks one rule of sequence_state's layout.
    auto save_broken = [&](const std::string& name, auto&& edit) {
        dsv4::sequence_state seq = tiny_state(16, 9, 8);
        edit(seq);
        dsv4::save_state(seq, tiny, state_dir + "/" + name);
    };
    save_broken("regression_index_keys_count", [](dsv4::sequence_state& q) { q.layers()[1].index_keys.resize(4); });
    save_broken("regression_entries_in_window_layer", [](dsv4::sequence_state& q) { q.layers()[0].compressed.assign(8, 1.0f); });
    save_broken("regression_mtp_entries", [](dsv4::sequence_state& q) { q.mtp_layers()[0].compressed.clear(); });
    save_broken("regression_mtp_ahead", [](dsv4::sequence_state& q) { q.set_positions(9, 12); });
    save_broken("regression_token_id", [](dsv4::sequence_state& q) { q.tokens_mut()[3] = -7; });
    return 0;
}
