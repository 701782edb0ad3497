// dsv4/nn/compressor.hpp — gated pooling of r consecutive tokens into one KV entry.
//
// Per token (position p): K = wkv(x), Z = wgate(x) + ape[p mod r], both [coff*d] in f32,
// stored in the sequence's compressor state. When a block completes ((p+1) mod r == 0)
// entry i = p / r is emitted:
//   ratio 128 (coff 1): per channel c, softmax over the block's r scores, Σ w·K.
//   ratio 4 (overlap, coff 2): per channel c < d, one softmax over 2r positions: the
//     previous block's A half (channel c) and the current block's B half (channel d+c);
//     the first block's previous half is padding (K 0, score -inf). Then the current rows
//     become the previous rows.
// The entry is RMS-normalised (weight), RoPE'd on its tail at position i*r, and for the
// indexer Hadamard-rotated. Tokens are folded in one at a time, so a prompt may be fed in
// any chunking and gives the reference's prefill result (up to f32 summation order).
#pragma once

#include <cmath>
#include <vector>

#include <dsv4/kernels/hadamard.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/kernels/rope.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/nn/weights.hpp>
#include <dsv4/nn/sequence_state.hpp>

namespace dsv4::nn {

struct compressor_setup {
    int rope_dim = 0;
    const float* rope_freqs = nullptr;
    float norm_eps = 1e-6f;
    bool rotate = false;  // indexer: Hadamard after RoPE
};

// Folds S tokens (positions start..start+S-1) into the state and appends every completed
// entry to `entries` ([n, d] rows). K = wkv(x), Z = wgate(x): [S, coff*d] each, computed by
// the caller (together with the layer's other projections of x).
inline void compress_tokens(const compressor_weights& w, const compressor_setup& cs, compressor_state& st,
                            const float* K, const float* Z, size_t S, int64_t start, std::vector<float>& entries) {
    const size_t r = size_t(st.ratio), d = size_t(st.width), rw = st.row_width();
    std::vector<float> entry(d), weights(2 * r);
    for (size_t t = 0; t < S; ++t) {
        const int64_t p = start + int64_t(t);
        const size_t slot = size_t(p % int64_t(r));
        const size_t row = st.coff == 2 ? r + slot : slot;
        float* kv_row = st.kv.data() + row * rw;
        float* sc_row = st.score.data() + row * rw;
        const float* ape = w.ape.data() + slot * rw;
        for (size_t c = 0; c < rw; ++c) {
            kv_row[c] = K[t * rw + c];
            sc_row[c] = Z[t * rw + c] + ape[c];
        }
        if ((p + 1) % int64_t(r) != 0) continue;
        // emit entry p / r
        for (size_t c = 0; c < d; ++c) {
            // the pooled positions of channel c: overlap = previous A half then current B half
            const size_t n = size_t(st.coff) * r;
            float mx = -INFINITY;
            auto score_at = [&](size_t i) -> float {
                if (st.coff == 2) return i < r ? st.score[i * rw + c] : st.score[i * rw + d + c];
                return st.score[i * rw + c];
            };
            auto kv_at = [&](size_t i) -> float {
                if (st.coff == 2) return i < r ? st.kv[i * rw + c] : st.kv[i * rw + d + c];
                return st.kv[i * rw + c];
            };
            for (size_t i = 0; i < n; ++i) mx = std::max(mx, score_at(i));
            float den = 0;
            for (size_t i = 0; i < n; ++i) den += (weights[i] = std::exp(score_at(i) - mx));
            float acc = 0;
            for (size_t i = 0; i < n; ++i) acc += kv_at(i) * (weights[i] / den);
            entry[c] = acc;
        }
        if (st.coff == 2) {
            std::copy(st.kv.begin() + long(r * rw), st.kv.end(), st.kv.begin());
            std::copy(st.score.begin() + long(r * rw), st.score.end(), st.score.begin());
        }
        kernels::rmsnorm(entry.data(), w.norm.data(), entry.data(), d, cs.norm_eps);
        kernels::apply_rope(entry.data() + d - size_t(cs.rope_dim), cs.rope_freqs, cs.rope_dim, p + 1 - int64_t(r));
        if (cs.rotate) kernels::hadamard_inplace(entry.data(), d);
        entries.insert(entries.end(), entry.begin(), entry.end());
    }
}

}  // namespace dsv4::nn
