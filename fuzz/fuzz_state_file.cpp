// libFuzzer target: dsv4::load_state on a saved sequence state (a safetensors file).
//
// The bytes are written to a per-process scratch file (load_state reads a path) and loaded
// for the tiny shape of tiny_state_shape.hpp. Contract (state_file.hpp): the file loads or
// load_state throws dsv4::error naming the file. A loaded state must be one the model can
// continue from, checked here from sequence_state's documented layout rather than from
// load_state's own checks: positions within the capacity (MTP not ahead of the main model),
// one token id per position, each in the vocabulary, and per layer a full window and
// compressor state and exactly the compressed entries (and indexer keys) its position has
// produced. Any other exception, a crash, a sanitizer report or a timeout is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <dsv4/runtime/state_file.hpp>

#include "fuzz_support.hpp"
#include "tiny_state_shape.hpp"

namespace {

using dsv4::fuzz::check;

// In memory (/dev/shm) where there is one: writing and mapping a disk-backed file each run
// made the target about four times slower.
const std::string& scratch_path() {
    static const std::filesystem::path dir =
        std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    static const std::string path = (dir / ("dsv4-fuzz-state-" + std::to_string(::getpid()) + ".safetensors")).string();
    static const bool cleanup = [] { return std::atexit([] { std::remove(path.c_str()); }) == 0; }();
    (void)cleanup;
    return path;
}

void check_layer(const dsv4::layer_state& l, const dsv4::model_shape& s, int layer, int64_t position) {
    const std::string where = "layer " + std::to_string(layer) + ": ";  // built once per layer, for the reports
    const size_t r = size_t(s.ratio(layer)), d = size_t(s.head_dim), di = size_t(s.index_head_dim);
    if (l.window.size() != size_t(s.window_size) * d) dsv4::fuzz::broken(where + "window size");
    const bool csa = s.has_indexer(layer);
    const size_t coff = size_t(s.compressor_coff(layer));
    const size_t partial = r == 0 ? 0 : coff * r * coff * d;
    if (l.compressor.kv.size() != partial || l.compressor.score.size() != partial) dsv4::fuzz::broken(where + "compressor size");
    const size_t entries = r == 0 ? 0 : size_t(position) / r;
    if (l.compressed.size() != entries * d)
        dsv4::fuzz::broken(where + std::to_string(l.compressed.size()) + " compressed floats at position " + std::to_string(position));
    const size_t index_partial = csa ? coff * r * coff * di : 0;
    if (l.index_compressor.kv.size() != index_partial || l.index_compressor.score.size() != index_partial)
        dsv4::fuzz::broken(where + "index compressor size");
    if (l.index_keys.size() != (csa ? entries * di : 0))
        dsv4::fuzz::broken(where + std::to_string(l.index_keys.size()) + " index-key floats at position " + std::to_string(position));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string& path = scratch_path();
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
        check(bool(f), "cannot write the scratch file");
    }
    const dsv4::model_shape s = dsv4::fuzz::tiny_state_shape();
    try {
        const dsv4::sequence_state seq = dsv4::load_state(s, path);
        check(seq.position() >= 0 && seq.position() <= seq.capacity(), "position outside the capacity");
        check(seq.mtp_position() >= 0 && seq.mtp_position() <= seq.position(), "MTP position ahead of the main model");
        check(seq.tokens().size() == size_t(seq.position()), "token history length differs from the position");
        for (const int32_t id : seq.tokens())
            if (id < 0 || id >= s.vocab_size) dsv4::fuzz::broken("token id " + std::to_string(id) + " outside the vocabulary");
        check(seq.layers().size() == size_t(s.n_layers) && seq.mtp_layers().size() == size_t(s.n_mtp_layers), "layer count");
        for (int l = 0; l < s.n_layers; ++l) check_layer(seq.layers()[size_t(l)], s, l, seq.position());
        for (int m = 0; m < s.n_mtp_layers; ++m)
            check_layer(seq.mtp_layers()[size_t(m)], s, s.n_layers + m, seq.mtp_position());
    } catch (const dsv4::error&) {
        // rejected file
    }
    return 0;
}
