// dsv4/runtime/sequence_state.hpp — everything one sequence carries between calls.
//
// Per layer: the raw-window ring (token at position p in slot p mod W), the compressed
// KV entries emitted so far (entry i pools source block [i*r, (i+1)*r)), the indexer's
// compressed keys (CSA layers), and each compressor's partial-block state: `kv` and
// `score` rows of [coff*r, coff*d] f32 (overlap: rows [0, r) = previous block, [r, 2r) =
// current; otherwise a ring by p mod r), reset to 0 / -inf for a new sequence.
// The MTP block has its own window state and position. bytes() is exact accounting of
// the f32 storage held.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/error.hpp>

namespace dsv4 {

struct compressor_state {
    int ratio = 0;
    int width = 0;  // d: entry width
    int coff = 1;   // 2 when overlapping (ratio 4)
    std::vector<float> kv, score;

    void init(int r, int d) {
        ratio = r;
        width = d;
        coff = r == 4 ? 2 : 1;
        kv.assign(size_t(coff * r) * size_t(coff * d), 0.0f);
        score.assign(kv.size(), -std::numeric_limits<float>::infinity());
    }
    size_t row_width() const { return size_t(coff * width); }
};

struct layer_state {
    int ratio = 0;
    std::vector<float> window;       // [W, head_dim]
    std::vector<float> compressed;   // [entries, head_dim]
    std::vector<float> index_keys;   // [entries, index_head_dim] (CSA)
    compressor_state compressor, index_compressor;

    size_t bytes() const {
        return 4 * (window.capacity() + compressed.capacity() + index_keys.capacity() + compressor.kv.capacity() +
                    compressor.score.capacity() + index_compressor.kv.capacity() + index_compressor.score.capacity());
    }
};

class sequence_state {
public:
    sequence_state() = default;
    sequence_state(const model_shape& s, int64_t capacity) : capacity_(capacity) {
        if (capacity < 1) fail("sequence_state: capacity must be at least 1 token, got ", capacity);
        layers_.resize(size_t(s.n_layers));
        mtp_.resize(size_t(s.n_mtp_layers));
        auto init = [&](layer_state& l, int layer) {
            l.ratio = s.ratio(layer);
            l.window.assign(size_t(s.window_size) * size_t(s.head_dim), 0.0f);
            if (l.ratio > 0) l.compressor.init(l.ratio, s.head_dim);
            if (l.ratio == 4) l.index_compressor.init(4, s.index_head_dim);
        };
        for (int l = 0; l < s.n_layers; ++l) init(layers_[size_t(l)], l);
        for (int m = 0; m < s.n_mtp_layers; ++m) init(mtp_[size_t(m)], s.n_layers + m);
    }

    int64_t position() const { return position_; }          // tokens the main model has consumed
    int64_t mtp_position() const { return mtp_position_; }  // tokens the MTP block has consumed
    int64_t capacity() const { return capacity_; }
    std::vector<layer_state>& layers() { return layers_; }
    const std::vector<layer_state>& layers() const { return layers_; }
    std::vector<layer_state>& mtp_layers() { return mtp_; }
    const std::vector<layer_state>& mtp_layers() const { return mtp_; }
    void advance(int64_t n) { position_ += n; }
    void advance_mtp(int64_t n) { mtp_position_ += n; }

    size_t bytes() const {
        size_t b = 0;
        for (const auto& l : layers_) b += l.bytes();
        for (const auto& l : mtp_) b += l.bytes();
        return b;
    }

private:
    int64_t position_ = 0;
    int64_t mtp_position_ = 0;
    int64_t capacity_ = 0;
    std::vector<layer_state> layers_, mtp_;
};

}  // namespace dsv4
