// dsv4/nn/sequence_state.hpp — everything one sequence carries between calls.
//
// Per layer: the raw-window ring (token at position p in slot p mod W), the compressed
// KV entries emitted so far (entry i pools source block [i*r, (i+1)*r)), the indexer's
// compressed keys (CSA layers), and each compressor's partial-block state: `kv` and
// `score` rows of [coff*r, coff*d] f32 (CSA overlap, coff 2: rows [0, r) = previous block,
// [r, 2r) = current; HCA, coff 1: a ring by p mod r), reset to 0 / -inf for a new sequence.
// A state belongs to the model shape that made it (its fingerprint); the model refuses a
// state of any other shape.
// The MTP block has its own window state and position. bytes() is exact accounting of
// the storage held.
//
// State control: a sequence_state is a value (copy = full snapshot in memory). It also
// records the token ids it consumed and can keep light "marks": the window rings and
// compressor partial blocks at a position, plus how many compressed entries existed then
// (compressed entries are append-only, so truncating them restores them exactly).
// model_core::rewind(seq, p) restores the latest mark at or before p (position 0 is always
// available) and re-feeds the recorded tokens up to p. runtime/state_file.hpp writes and
// reads the whole state as a safetensors file.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include <xtensor/xadapt.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/error.hpp>

namespace dsv4 {

struct compressor_state {
    int ratio = 0;
    int width = 0;  // d: entry width
    int coff = 1;   // 2 when overlapping (CSA)
    std::vector<float> kv, score;

    void init(int r, int d, int overlap_coff) {
        ratio = r;
        width = d;
        coff = overlap_coff;
        kv.assign(size_t(coff * r) * size_t(coff * d), 0.0f);
        score.assign(kv.size(), -std::numeric_limits<float>::infinity());
    }
    size_t row_width() const { return size_t(coff * width); }
};

namespace detail {
// [rows, width] xtensor view of a vector of whole rows (no copy).
template <class V>
auto rows_of(V& v, size_t width) {
    const size_t rows = width ? v.size() / width : 0;
    return xt::adapt(v.data(), rows * width, xt::no_ownership(), std::array<size_t, 2>{rows, width});
}
}  // namespace detail

struct layer_state {
    int ratio = 0;
    size_t head_dim = 0, index_head_dim = 0;
    std::vector<float> window;       // [W, head_dim]
    std::vector<float> compressed;   // [entries, head_dim]
    std::vector<float> index_keys;   // [entries, index_head_dim] (CSA)
    compressor_state compressor, index_compressor;

    // The same storage as xtensor (zero-copy views; valid until the state next grows).
    auto window_rows() { return detail::rows_of(window, head_dim); }
    auto window_rows() const { return detail::rows_of(window, head_dim); }
    auto compressed_entries() { return detail::rows_of(compressed, head_dim); }
    auto compressed_entries() const { return detail::rows_of(compressed, head_dim); }
    auto index_key_entries() { return detail::rows_of(index_keys, index_head_dim); }
    auto index_key_entries() const { return detail::rows_of(index_keys, index_head_dim); }

    // bytes of state held (sizes, not reservations: reserved pages are never touched)
    size_t bytes() const {
        return 4 * (window.size() + compressed.size() + index_keys.size() + compressor.kv.size() + compressor.score.size() +
                    index_compressor.kv.size() + index_compressor.score.size());
    }
};

// The O(window) part of a sequence at one position (see model_core::rewind).
struct sequence_mark {
    int64_t position = 0;
    int64_t mtp_position = 0;
    struct layer_part {
        std::vector<float> window;
        compressor_state compressor, index_compressor;
        size_t compressed_floats = 0, index_key_floats = 0;
    };
    std::vector<layer_part> layers, mtp;
};

class sequence_state {
public:
    sequence_state() = default;
    sequence_state(const model_shape& s, int64_t capacity) : shape_fingerprint_(fingerprint(s)), capacity_(capacity) {
        if (capacity < 1) fail("sequence_state: capacity must be at least 1 token, got ", capacity);
        layers_.resize(size_t(s.n_layers));
        mtp_.resize(size_t(s.n_mtp_layers));
        // The append-only entry arrays are reserved for the whole capacity up front: the address
        // space costs nothing until written (pages are touched as entries arrive), and no append
        // ever reallocates, so the resident size stays the size of the state, never twice it.
        auto init = [&](layer_state& l, int layer) {
            l.ratio = s.ratio(layer);
            l.head_dim = size_t(s.head_dim);
            l.index_head_dim = s.has_indexer(layer) ? size_t(s.index_head_dim) : 0;
            l.window.assign(size_t(s.window_size) * size_t(s.head_dim), 0.0f);
            if (s.has_compressor(layer)) {
                l.compressor.init(l.ratio, s.head_dim, s.compressor_coff(layer));
                l.compressed.reserve(size_t(capacity / l.ratio) * size_t(s.head_dim));
            }
            if (s.has_indexer(layer)) {
                l.index_compressor.init(l.ratio, s.index_head_dim, 2);
                l.index_keys.reserve(size_t(capacity / l.ratio) * size_t(s.index_head_dim));
            }
        };
        try {
            for (int l = 0; l < s.n_layers; ++l) init(layers_[size_t(l)], l);
            for (int m = 0; m < s.n_mtp_layers; ++m) init(mtp_[size_t(m)], s.n_layers + m);
            tokens_.reserve(size_t(capacity));
        } catch (const std::bad_alloc&) {
            fail("sequence_state: cannot reserve the state of ", capacity, " tokens (out of address space or memory)");
        } catch (const std::length_error&) {
            fail("sequence_state: a capacity of ", capacity, " tokens is too large");
        }
    }

    // Digest of the model shape this state was made for (dsv4::fingerprint).
    uint64_t shape_fingerprint() const { return shape_fingerprint_; }
    int64_t position() const { return position_; }          // tokens the main model has consumed
    int64_t mtp_position() const { return mtp_position_; }  // tokens the MTP block has consumed
    int64_t capacity() const { return capacity_; }
    std::vector<layer_state>& layers() { return layers_; }
    const std::vector<layer_state>& layers() const { return layers_; }
    std::vector<layer_state>& mtp_layers() { return mtp_; }
    const std::vector<layer_state>& mtp_layers() const { return mtp_; }
    void advance(int64_t n) { position_ += n; }
    void advance_mtp(int64_t n) { mtp_position_ += n; }

    // Token ids consumed by the main model, in order (tokens()[p] is at position p).
    const std::vector<int32_t>& tokens() const { return tokens_; }
    void record_tokens(std::span<const int32_t> ids) { tokens_.insert(tokens_.end(), ids.begin(), ids.end()); }

    // Keeps a light mark of the current position (O(window) per layer).
    const sequence_mark& mark() {
        sequence_mark m;
        m.position = position_;
        m.mtp_position = mtp_position_;
        auto part = [](const layer_state& l) {
            return sequence_mark::layer_part{l.window, l.compressor, l.index_compressor, l.compressed.size(), l.index_keys.size()};
        };
        for (const auto& l : layers_) m.layers.push_back(part(l));
        for (const auto& l : mtp_) m.mtp.push_back(part(l));
        std::erase_if(marks_, [&](const sequence_mark& o) { return o.position == position_; });
        marks_.push_back(std::move(m));
        std::sort(marks_.begin(), marks_.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
        for (const auto& k : marks_)
            if (k.position == position_) return k;
        return marks_.back();
    }
    const std::vector<sequence_mark>& marks() const { return marks_; }

    // Back to the latest mark at or before `position`; later marks and tokens are dropped.
    // Returns false (and changes nothing) when no mark is at or before `position`.
    bool restore_latest_mark(int64_t position) {
        const sequence_mark* best = nullptr;
        for (const auto& k : marks_)
            if (k.position <= position) best = &k;
        if (!best) return false;
        auto apply = [](layer_state& l, const sequence_mark::layer_part& p) {
            l.window = p.window;
            l.compressor = p.compressor;
            l.index_compressor = p.index_compressor;
            l.compressed.resize(p.compressed_floats);
            l.index_keys.resize(p.index_key_floats);
        };
        for (size_t i = 0; i < layers_.size(); ++i) apply(layers_[i], best->layers[i]);
        for (size_t i = 0; i < mtp_.size(); ++i) apply(mtp_[i], best->mtp[i]);
        position_ = best->position;
        mtp_position_ = std::min(best->mtp_position, position_);
        tokens_.resize(size_t(position_));
        const int64_t keep = best->position;
        std::erase_if(marks_, [&](const sequence_mark& o) { return o.position > keep; });
        return true;
    }
    // Back to the empty state of a new sequence (marks and tokens dropped).
    void reset() {
        for (auto& l : layers_) clear_layer(l);
        for (auto& l : mtp_) clear_layer(l);
        position_ = mtp_position_ = 0;
        tokens_.clear();
        marks_.clear();
    }

    size_t bytes() const {
        size_t b = 4 * tokens_.size();
        for (const auto& l : layers_) b += l.bytes();
        for (const auto& l : mtp_) b += l.bytes();
        for (const auto& m : marks_)
            for (const auto* parts : {&m.layers, &m.mtp})
                for (const auto& p : *parts)
                    b += 4 * (p.window.size() + p.compressor.kv.size() + p.compressor.score.size() +
                              p.index_compressor.kv.size() + p.index_compressor.score.size());
        return b;
    }

    // For loading a saved state (runtime/state_file.hpp).
    void set_positions(int64_t position, int64_t mtp_position) {
        position_ = position;
        mtp_position_ = mtp_position;
    }
    std::vector<int32_t>& tokens_mut() { return tokens_; }

private:
    static void clear_layer(layer_state& l) {
        std::fill(l.window.begin(), l.window.end(), 0.0f);
        l.compressed.clear();
        l.index_keys.clear();
        if (l.compressor.ratio) l.compressor.init(l.compressor.ratio, l.compressor.width, l.compressor.coff);
        if (l.index_compressor.ratio)
            l.index_compressor.init(l.index_compressor.ratio, l.index_compressor.width, l.index_compressor.coff);
    }

    uint64_t shape_fingerprint_ = 0;  // 0: a default-constructed state, of no shape
    int64_t position_ = 0;
    int64_t mtp_position_ = 0;
    int64_t capacity_ = 0;
    std::vector<layer_state> layers_, mtp_;
    std::vector<int32_t> tokens_;
    std::vector<sequence_mark> marks_;
};

}  // namespace dsv4
