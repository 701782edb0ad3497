// dsv4/kernels/topk.hpp — indices of the k largest scores, largest first; equal scores
// order by lower index so the choice never depends on the thread or the input order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dsv4::kernels {

inline void topk_indices(const float* scores, int n, int k, std::vector<int32_t>& out) {
    out.resize(size_t(n));
    for (int i = 0; i < n; ++i) out[size_t(i)] = i;
    k = std::min(k, n);
    auto better = [&](int32_t a, int32_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); };
    std::partial_sort(out.begin(), out.begin() + k, out.end(), better);
    out.resize(size_t(k));
}

}  // namespace dsv4::kernels
