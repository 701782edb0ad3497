// dsv4/nn/ops.hpp — kernels applied over token rows, parallelised by the context.
//   x: [M, K] rows, W: [N, K], y: [M, N]
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <dsv4/kernels/gemm.hpp>
#include <dsv4/kernels/linear.hpp>
#include <dsv4/kernels/rmsnorm.hpp>
#include <dsv4/context.hpp>
#include <dsv4/error.hpp>

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

// Tiles of C for gemm over `threads`: rows x cols, multiples of the micro-tile (MR x NR).
// Each tile packs its own panels of op(A) ([rows, K]) and op(B) ([K, cols]), so a tile's time
// per k is estimated as its FMA instructions plus its packing, mt·nt/vsize + (mt + nt) cycles
// (an FMA a cycle; on AVX-512 packing measured 0.2 to 0.7 cycles an element, rounded up for the
// cache misses of first reads); the grid with the least of that times the rounds of tiles
// (tiles / threads, rounded up) wins. A product under 4 MFLOP (tens of microseconds, about a
// thread wake-up) stays in one tile.
struct gemm_tiling {
    size_t rows, cols;
};
inline gemm_tiling gemm_tiles(size_t M, size_t N, size_t K, size_t threads) {
    constexpr size_t MR = kernels::detail::gemm_mr, NR = kernels::detail::gemm_nr;
    if (threads <= 1 || 2.0 * double(M) * double(N) * double(K) < 4e6) return {M, N};
    const size_t pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;  // micro-tiles along each side
    const size_t most = 8 * threads;
    gemm_tiling best{M, N};
    double best_cost = -1;
    for (size_t gm = 1; gm <= std::min(pm, most); ++gm)
        for (size_t gn = 1; gn <= std::min(pn, most / gm); ++gn) {
            const size_t mt = (pm + gm - 1) / gm * MR, nt = (pn + gn - 1) / gn * NR;
            const size_t tiles = ((M + mt - 1) / mt) * ((N + nt - 1) / nt);
            const double rounds = double((tiles + threads - 1) / threads);
            const double cost = rounds * (double(mt) * double(nt) / double(kernels::vsize) + double(mt + nt));
            if (best_cost < 0 || cost < best_cost) {
                best_cost = cost;
                best = {mt, nt};
            }
        }
    return best;
}

// C = beta·C + op(A)·op(B) over the context's threads (tiles of C; bit-identical for any thread count).
//   op(A): [M, K] (A [M, K] with row stride lda, or ta = yes: A stored [K, M]);
//   op(B): [K, N] (B [K, N] with row stride ldb, or tb = yes: B stored [N, K]); C: [M, N], ldc.
// beta is 0 (C is overwritten and need not be initialised) or 1 (accumulate). C must not overlap
// A or B. Bad arguments throw dsv4::error naming the argument.
inline void gemm(const context& ctx, kernels::transpose ta, kernels::transpose tb, size_t M, size_t N, size_t K,
                 const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    using kernels::transpose;
    if (beta != 0.0f && beta != 1.0f) fail("nn::gemm: beta must be 0 or 1, got ", beta);
    const size_t a_rows = ta == transpose::no ? M : K, a_cols = ta == transpose::no ? K : M;
    const size_t b_rows = tb == transpose::no ? K : N, b_cols = tb == transpose::no ? N : K;
    const char* a_shape = ta == transpose::no ? "[M, K]" : "[K, M] (ta = yes)";
    const char* b_shape = tb == transpose::no ? "[K, N]" : "[N, K] (tb = yes)";
    if (M == 0 || N == 0) return;
    if (ldc < N) fail("nn::gemm: ldc = ", ldc, " is less than the N = ", N, " columns of C");
    if (C == nullptr) fail("nn::gemm: C is null for a ", M, "x", N, " product");
    if (K > 0) {
        if (lda < a_cols) fail("nn::gemm: lda = ", lda, " is less than the ", a_cols, " columns of A stored ", a_shape);
        if (ldb < b_cols) fail("nn::gemm: ldb = ", ldb, " is less than the ", b_cols, " columns of B stored ", b_shape);
        if (A == nullptr) fail("nn::gemm: A is null for M = ", M, ", K = ", K);
        if (B == nullptr) fail("nn::gemm: B is null for K = ", K, ", N = ", N);
        // C is written while A and B are read (by other threads too): they must not share memory
        const auto overlaps = [&](const float* p, size_t rows, size_t cols, size_t ld) {
            const auto lo = reinterpret_cast<uintptr_t>(p), hi = reinterpret_cast<uintptr_t>(p + (rows - 1) * ld + cols);
            const auto c_lo = reinterpret_cast<uintptr_t>(C), c_hi = reinterpret_cast<uintptr_t>(C + (M - 1) * ldc + N);
            return lo < c_hi && c_lo < hi;
        };
        if (overlaps(A, a_rows, a_cols, lda)) fail("nn::gemm: C overlaps A");
        if (overlaps(B, b_rows, b_cols, ldb)) fail("nn::gemm: C overlaps B");
    }
    const gemm_tiling tiles = gemm_tiles(M, N, K, size_t(ctx.threads()));
    const size_t mt = tiles.rows, nt = tiles.cols;
    const size_t gm = (M + mt - 1) / mt, gn = (N + nt - 1) / nt;
    ctx.parallel_for(gm * gn, 1, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) {
            const size_t i = t / gn, j = t % gn;
            kernels::gemm_block(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, i * mt, std::min(M, (i + 1) * mt), j * nt,
                                std::min(N, (j + 1) * nt));
        }
    });
}

// Row-wise RMSNorm of [M, n] in place.
inline void rmsnorm_rows(float* x, size_t M, size_t n, const float* w, float eps) {
    for (size_t m = 0; m < M; ++m) kernels::rmsnorm(x + m * n, w, x + m * n, n, eps);
}

}  // namespace dsv4::nn
