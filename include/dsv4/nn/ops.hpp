// dsv4/nn/ops.hpp — kernels applied over token rows, parallelised by the context.
//   x: [M, K] rows, W: [N, K], y: [M, N]
#pragma once

#include <algorithm>
#include <vector>

#include <dsv4/kernels/linear.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/runtime/context.hpp>

namespace dsv4::nn {

using fvec = std::vector<float>;

// y[M, N] = x[M, K] · Wᵀ, split over output rows of W (bit-identical for any split).
inline void linear(const context& ctx, const float* x, size_t M, const kernels::linear_weight& w, float* y) {
    const size_t N = w.out;
    const size_t grain = std::max<size_t>(1, std::min<size_t>(64, N / size_t(4 * ctx.threads()) + 1));
    ctx.parallel_for(N, grain, [&](size_t n0, size_t n1) {
        thread_local fvec scratch;
        if (scratch.size() < w.in) scratch.resize(w.in);
        kernels::linear_rows(x, w.in, M, w, n0, n1, y + n0, N, scratch.data());
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
