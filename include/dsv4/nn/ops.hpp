// dsv4/nn/ops.hpp — kernels applied over token rows, parallelised by the context.
//   x: [M, K] rows, W: [N, K], y: [M, N]
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include <dsv4/kernels/linear.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/context.hpp>

namespace dsv4::nn {

using fvec = std::vector<float>;

// Rows per parallel chunk: whole 32-column panels for the GEMM path (M > 4); for decode,
// a matrix too small to repay a thread hand-off (< 256 KB) runs in one chunk.
inline size_t linear_grain(const context& ctx, size_t M, const kernels::linear_weight& w) {
    const size_t N = w.out, T = size_t(ctx.threads());
    if (M > kernels::detail::max_gemv_rows) {
        const size_t panels = (N + kernels::detail::panel_cols - 1) / kernels::detail::panel_cols;
        return kernels::detail::panel_cols * std::max<size_t>(1, panels / (2 * T));
    }
    if (w.bytes() < (size_t(256) << 10)) return N;
    return std::max<size_t>(1, std::min<size_t>(64, N / (4 * T) + 1));
}

// Rows x[M, K] prepared once, before the parallel region, for the products among `ws` that
// take the bf16 dot-product kernels: a decode row (M = 1) for the GEMVs (rounded, or split
// exactly), prefill rows (M > 4) rounded to bf16 for the GEMM of BF16 weights; null when none does.
inline const kernels::rounded_row* round_once(const float* x, size_t M, std::span<const kernels::linear_weight* const> ws,
                                              kernels::rounded_row& storage) {
    const bool prepared = M == 1 ? kernels::prepare_for_bf16dot(storage, x, ws)
                                 : M > kernels::detail::max_gemv_rows && kernels::prepare_rows_for_bf16dot(storage, x, M, ws);
    return prepared ? &storage : nullptr;
}

// y[M, N] = x[M, K] · Wᵀ, split over output rows of W (bit-identical for any split).
inline void linear(const context& ctx, const float* x, size_t M, const kernels::linear_weight& w, float* y) {
    const size_t N = w.out;
    kernels::rounded_row rounded_storage;
    const kernels::linear_weight* const products[] = {&w};
    const kernels::rounded_row* rounded = round_once(x, M, products, rounded_storage);
    ctx.parallel_for(N, linear_grain(ctx, M, w), [&](size_t n0, size_t n1) {
        thread_local fvec scratch;
        if (scratch.size() < w.in) scratch.resize(w.in);
        kernels::linear_rows(x, w.in, M, w, n0, n1, y + n0, N, scratch.data(), rounded);
    });
}

// Several products of the same input x[M, K] in one parallel region: y_i = x · W_iᵀ.
// Chunks are row ranges of one matrix at a time (same results as separate calls).
struct linear_job {
    const kernels::linear_weight* w;
    float* y;
};
inline void linear_many(const context& ctx, const float* x, size_t M, std::initializer_list<linear_job> jobs_in) {
    std::vector<linear_job> jobs(jobs_in);
    struct chunk {
        size_t job, n0, n1;
    };
    std::vector<chunk> chunks;
    for (size_t j = 0; j < jobs.size(); ++j) {
        const auto& w = *jobs[j].w;
        if (w.empty()) continue;
        const size_t g = linear_grain(ctx, M, w);
        for (size_t n0 = 0; n0 < w.out; n0 += g) chunks.push_back({j, n0, std::min(w.out, n0 + g)});
    }
    std::vector<const kernels::linear_weight*> products;
    for (const auto& j : jobs) products.push_back(j.w);
    kernels::rounded_row rounded_storage;
    const kernels::rounded_row* rounded = round_once(x, M, products, rounded_storage);
    ctx.parallel_for(chunks.size(), 1, [&](size_t a, size_t b) {
        thread_local fvec scratch;
        for (size_t c = a; c < b; ++c) {
            const auto& w = *jobs[chunks[c].job].w;
            if (scratch.size() < w.in) scratch.resize(w.in);
            kernels::linear_rows(x, w.in, M, w, chunks[c].n0, chunks[c].n1, jobs[chunks[c].job].y + chunks[c].n0, w.out,
                                 scratch.data(), rounded);
        }
    });
}

inline fvec linear(const context& ctx, const float* x, size_t M, const kernels::linear_weight& w) {
    fvec y(M * w.out);
    linear(ctx, x, M, w, y.data());
    return y;
}
inline fvec linear(const context& ctx, const fvec& x, size_t M, const kernels::linear_weight& w) {
    return linear(ctx, x.data(), M, w);
}

// Row-wise RMSNorm of [M, n] in place.
inline void rmsnorm_rows(float* x, size_t M, size_t n, const float* w, float eps) {
    for (size_t m = 0; m < M; ++m) kernels::rmsnorm(x + m * n, w, x + m * n, n, eps);
}

}  // namespace dsv4::nn
