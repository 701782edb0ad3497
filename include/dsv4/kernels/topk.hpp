// dsv4/kernels/topk.hpp — indices of the k largest scores, largest first; equal scores
// order by lower index so the choice never depends on the thread or the input order.
// NaN ranks as -inf and -0 as +0, so the order is a strict total order on (score, index).
//
// Each entry becomes one 64-bit key whose unsigned order is that order (the score's bits
// mapped to an order-preserving unsigned, then the complemented index): selection and
// sorting then compare plain integers, with no indirection or NaN test per comparison
// (the indexer selects 512 of 16K entries per CSA layer and token).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace dsv4::kernels {

namespace detail {

inline uint64_t rank_key(float score, int32_t index) noexcept {
    if (std::isnan(score)) score = -INFINITY;
    if (score == 0.0f) score = 0.0f;  // -0 ties with +0
    uint32_t b = std::bit_cast<uint32_t>(score);
    b = (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
    return (uint64_t(b) << 32) | uint64_t(~uint32_t(index));
}
inline int32_t index_of(uint64_t key) noexcept { return int32_t(~uint32_t(key)); }

}  // namespace detail

// The rank keys of the min(k, n) best of scores[0, n), whose indices count from `first`, in no
// particular order. The k best of a union are the k best of the parts' k best, so parts of a
// long list can be selected on several threads, then merged with indices_of_best_ascending.
inline void best_rank_keys(const float* scores, int n, int k, int first, std::vector<uint64_t>& keys) {
    k = std::max(0, std::min(k, n));
    keys.resize(size_t(n));
    for (int i = 0; i < n; ++i) keys[size_t(i)] = detail::rank_key(scores[i], first + i);
    if (k < n) std::nth_element(keys.begin(), keys.begin() + k, keys.end(), std::greater<uint64_t>());
    keys.resize(size_t(k));
}

// out: the indices of the min(k, size) best of `keys` (reordered), in ascending order.
inline void indices_of_best_ascending(std::vector<uint64_t>& keys, int k, std::vector<int32_t>& out) {
    const size_t kk = size_t(std::max(0, std::min<int>(k, int(keys.size()))));
    if (kk < keys.size()) std::nth_element(keys.begin(), keys.begin() + long(kk), keys.end(), std::greater<uint64_t>());
    out.resize(kk);
    for (size_t j = 0; j < kk; ++j) out[j] = detail::index_of(keys[j]);
    std::sort(out.begin(), out.end());
}

// out: the indices of the min(k, n) best scores, best first.
inline void topk_indices(const float* scores, int n, int k, std::vector<int32_t>& out) {
    thread_local std::vector<uint64_t> keys;
    best_rank_keys(scores, n, k, 0, keys);
    std::sort(keys.begin(), keys.end(), std::greater<uint64_t>());
    out.resize(keys.size());
    for (size_t j = 0; j < keys.size(); ++j) out[j] = detail::index_of(keys[j]);
}

// The same set of indices in ascending order (the indexer's attention list).
inline void topk_indices_ascending(const float* scores, int n, int k, std::vector<int32_t>& out) {
    thread_local std::vector<uint64_t> keys;
    best_rank_keys(scores, n, k, 0, keys);
    indices_of_best_ascending(keys, k, out);
}

}  // namespace dsv4::kernels
