// dsv4/train/backward_ops.hpp — backward of the row operations the forward applies to token
// rows, on f32 master weights, parallel and deterministic.
//
//   linear:  y[S, N] = x[S, K] · Wᵀ      ->  dW[N, K] += dyᵀ · x;  dx[S, K] (+)= dy · W
//   rmsnorm: y = w ⊙ x · r per row       ->  dx, and dw += Σ_rows dy ⊙ x · r (rows in order)
//   rope:    a rotation of each row's tail -> its gradient is rotated back
// Weight gradients reduce over tokens inside one GEMM (a fixed order over k per element),
// so they do not depend on the thread count.
#pragma once

#include <vector>

#include <dsv4/context.hpp>
#include <dsv4/kernels/gemm.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/kernels/rope.hpp>
#include <dsv4/nn/ops.hpp>

namespace dsv4::train {

using fvec = std::vector<float>;
using kernels::transpose;

// dW[N, K] += dy[S, N]ᵀ · x[S, K]   (rows of dy and x with strides ldy, ldx)
inline void add_weight_gradient(const context& ctx, const float* dy, size_t ldy, const float* x, size_t ldx, size_t S,
                                size_t N, size_t K, float* dW, size_t ldw) {
    if (S == 0) return;
    nn::gemm(ctx, transpose::yes, transpose::no, N, K, S, dy, ldy, x, ldx, 1.0f, dW, ldw);
}

// dx[S, K] = beta·dx + dy[S, N] · W[N, K]
inline void input_gradient(const context& ctx, const float* dy, size_t ldy, const float* W, size_t ldw, size_t S,
                           size_t N, size_t K, float beta, float* dx, size_t ldx) {
    if (S == 0) return;
    nn::gemm(ctx, transpose::no, transpose::no, S, K, N, dy, ldy, W, ldw, beta, dx, ldx);
}

// Both gradients of y = x · Wᵀ (W: [N, K] contiguous); dx accumulates when `accumulate`.
// dx may be null (a detached input).
inline void linear_backward(const context& ctx, const float* x, const float* dy, size_t S, size_t N, size_t K,
                            const float* W, float* dW, float* dx, bool accumulate) {
    add_weight_gradient(ctx, dy, N, x, K, S, N, K, dW, K);
    if (dx) input_gradient(ctx, dy, N, W, K, S, N, K, accumulate ? 1.0f : 0.0f, dx, K);
}

// Row-wise RMSNorm backward over M rows of n: dx (may alias dy) and dw += (null: weightless).
inline void rmsnorm_rows_backward(const context& ctx, const float* x, const float* w, const float* dy, float* dx,
                                  float* dw, size_t M, size_t n, float eps) {
    // dw first: dx may overwrite dy
    if (dw) {
        // dw[k] += Σ_m dy[m, k] · x[m, k] · r_m, rows in order (n is a norm's width: one thread)
        for (size_t m = 0; m < M; ++m) {
            const float r = kernels::rms_inverse(x + m * n, n, eps);
            const float* xm = x + m * n;
            const float* gm = dy + m * n;
            for (size_t k = 0; k < n; ++k) dw[k] += gm[k] * (xm[k] * r);
        }
    }
    ctx.parallel_for(M, 16, [&](size_t m0, size_t m1) {
        for (size_t m = m0; m < m1; ++m) kernels::rmsnorm_backward(x + m * n, w, dy + m * n, dx + m * n, nullptr, n, eps);
    });
}

// cos/sin of rows 0..S-1 at positions t·stride of a RoPE table (one row of rope_dim/2 each;
// stride r for compressed entries, which sit at i·r).
struct rope_rows {
    fvec c, s;
    size_t half = 0;
    rope_rows(const float* freqs, size_t rope_dim, size_t S, int64_t stride = 1) : c(S * rope_dim / 2), s(S * rope_dim / 2), half(rope_dim / 2) {
        for (size_t t = 0; t < S; ++t) kernels::rope_cos_sin(freqs, int(rope_dim), int64_t(t) * stride, c.data() + t * half, s.data() + t * half);
    }
    // rotates a row-t tail by that row's angles, or back (inverse); a rotation's gradient is the
    // gradient rotated the other way
    void rotate(float* tail, size_t t, bool inverse) const {
        kernels::apply_rope(tail, c.data() + t * half, s.data() + t * half, int(2 * half), inverse);
    }
};

}  // namespace dsv4::train
