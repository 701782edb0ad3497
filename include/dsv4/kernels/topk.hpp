// dsv4/kernels/topk.hpp — indices of the k largest scores, largest first; equal scores
// order by lower index so the choice never depends on the thread or the input order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace dsv4::kernels {

inline void topk_indices(const float* scores, int n, int k, std::vector<int32_t>& out) {
    out.resize(size_t(n));
    for (int i = 0; i < n; ++i) out[size_t(i)] = i;
    k = std::min(k, n);
    // NaN ranks below every number (as -inf, ties by index), so the order stays a strict total order
    auto key = [&](int32_t i) { return std::isnan(scores[i]) ? -INFINITY : scores[i]; };
    auto better = [&](int32_t a, int32_t b) {
        const float ka = key(a), kb = key(b);
        return ka > kb || (ka == kb && a < b);
    };
    // `better` is a strict total order, so selecting then sorting the k best gives exactly
    // partial_sort's result in O(n + k log k) instead of O(n log k) (16K indexer entries, k 512)
    if (k < n) std::nth_element(out.begin(), out.begin() + k, out.end(), better);
    std::sort(out.begin(), out.begin() + k, better);
    out.resize(size_t(k));
}

}  // namespace dsv4::kernels
