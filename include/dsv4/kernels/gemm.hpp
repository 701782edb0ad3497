// dsv4/kernels/gemm.hpp — C = beta·C + op(A)·op(B) in f32, either operand transposed.
//
//   op(A): [M, K]  A itself ([M, K], row stride lda) or, transpose::yes, A stored [K, M]
//   op(B): [K, N]  B itself ([K, N], row stride ldb) or, transpose::yes, B stored [N, K]
//   C:     [M, N]  row stride ldc; beta 0 overwrites (C is not read), beta 1 accumulates
// The products of the training backward (dX[T, in] = dY[T, out]·W[out, in]: no/no;
// dW[out, in] += dY[T, out]ᵀ·X[T, in]: yes/no) and of Muon's Newton–Schulz (X·Xᵀ: no/yes;
// A·A, A·X: no/no). The forward's y = x·Wᵀ over stored weight formats is linear.hpp.
//
// Structure (GotoBLAS/BLIS): for each block of NC columns and each depth block of KC, the
// [KC, NC] block of op(B) is packed into slivers of NR columns ([KC][NR], L2/L3); for each
// block of MC rows, the [MC, KC] block of op(A) is packed into slivers of MR rows ([KC][MR],
// L2); the MR x NR micro-kernel (8x32 on AVX-512: 16 accumulators, 2 B vectors and a
// broadcast of 32 registers) runs each A sliver of the block against one B sliver. The
// transposes are absorbed by the packing: copies where op(·) rows are contiguous, 16x16
// in-register transposes (AVX-512) where they are not. Measured against OpenBLAS sgemm
// (SkylakeX kernels) on the benchmark machine: 0.96-1.07x on one thread and 1.02-1.2x on two
// (nn::gemm) for the training shapes of bench/kernels_bench.cpp, every transpose combination.
//
// Determinism: every element of C is one chain of FMAs over k = 0, 1, ..., K-1 in order,
// starting from 0 (beta 0) or from C (beta 1). Between depth blocks the accumulators go to C
// and come back (exact); edge tiles run the same kernel on zero-padded slivers through a
// buffer; lanes never mix. So every blocking and every split of C over threads gives the same
// bits. The portable path (xsimd on any arch; MR = 6 where there are 16 vector registers)
// keeps that structure with scalar packing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/simd.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

enum class transpose : bool { no = false, yes = true };

namespace detail {

inline constexpr size_t gemm_nr = 2 * vsize;  // columns of a micro-tile: two vectors
#if defined(__AVX512F__) || defined(__aarch64__)
inline constexpr size_t gemm_mr = 8;  // 32 registers: 16 accumulators + 2 B vectors + broadcasts
#else
inline constexpr size_t gemm_mr = 6;  // 16 registers: 12 accumulators + 2 B vectors + a broadcast
#endif
// Block sizes, AVX-512 figures in brackets. A B sliver [KC, NR] (48 KB) streams from L2 under
// the A slivers of an [MC, KC] block (192 KB, L2); the [KC, NC] B block (1.5 MB) is read from L3
// once per A block. On the benchmark machine (AVX-512, 32 KB L1, 1 MB L2) KC 384 measured a few
// percent above 256 and 192; depth blocks are then evened out (K = 512 runs as 2 x 256).
inline constexpr size_t gemm_kc = 384;
inline constexpr size_t gemm_mc = 16 * gemm_mr;  // [128]
inline constexpr size_t gemm_nc = 32 * gemm_nr;  // [1024]

#if defined(__AVX512F__)
// out[k] = (src[0][k], ..., src[15][k]) for k < 16: rows r >= rows read as zeros. Always
// inlined and unrolled so that the 16 rows, the 16 intermediates and the 16 results stay in
// registers (64 shuffles per 256 floats).
[[gnu::always_inline]] inline void transpose_16x16(const float* src, size_t ld, size_t rows, __m512 out[16]) noexcept {
    __m512 r[16];
#pragma GCC unroll 16
    for (size_t i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
    // per 128-bit lane l, t[4g+q] holds rows 4g..4g+3 at k = 4l + q
    __m512 t[16];
#pragma GCC unroll 4
    for (size_t g = 0; g < 4; ++g) {
        const __m512 lo01 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]), hi01 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
        const __m512 lo23 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]), hi23 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
        t[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
        t[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
        t[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
        t[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
    }
    // lanes (l0, l2 | l1, l3) of groups 0,1 and 2,3, then the four groups' lane l side by side
#pragma GCC unroll 4
    for (size_t q = 0; q < 4; ++q) {
        const __m512 e01 = _mm512_shuffle_f32x4(t[q], t[4 + q], 0x88), o01 = _mm512_shuffle_f32x4(t[q], t[4 + q], 0xdd);
        const __m512 e23 = _mm512_shuffle_f32x4(t[8 + q], t[12 + q], 0x88), o23 = _mm512_shuffle_f32x4(t[8 + q], t[12 + q], 0xdd);
        out[q] = _mm512_shuffle_f32x4(e01, e23, 0x88);
        out[8 + q] = _mm512_shuffle_f32x4(e01, e23, 0xdd);
        out[4 + q] = _mm512_shuffle_f32x4(o01, o23, 0x88);
        out[12 + q] = _mm512_shuffle_f32x4(o01, o23, 0xdd);
    }
}
#endif

// Rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into slivers of MR rows: sliver s holds
// op(A)(i0 + s*MR + r, p0 + k) at ap[s*kc*MR + k*MR + r], rows past mc zero.
inline void gemm_pack_a(transpose ta, const float* A, size_t lda, size_t i0, size_t mc, size_t p0, size_t kc,
                        float* __restrict ap) noexcept {
    constexpr size_t MR = gemm_mr;
    if (ta == transpose::yes) {  // A stored [K, M]: the MR values of one k are contiguous
        // one k at a time across all slivers, so every cache line of A is read once
        const size_t full = mc / MR * MR;
        for (size_t k = 0; k < kc; ++k) {
            const float* src = A + (p0 + k) * lda + i0;
            for (size_t s = 0; s < full; s += MR) std::memcpy(ap + (s / MR) * kc * MR + k * MR, src + s, MR * sizeof(float));
            if (full < mc)
                for (size_t r = 0; r < MR; ++r) ap[(full / MR) * kc * MR + k * MR + r] = full + r < mc ? src[full + r] : 0.0f;
        }
        return;
    }
    // A [M, K]: rows are contiguous in k, the sliver wants them interleaved
    size_t s = 0;
#if defined(__AVX512F__)
    static_assert(gemm_mr == 8 && gemm_mc % 16 == 0);
    for (; s < mc; s += 16) {  // two slivers per 16x16 transpose
        const size_t rows = std::min<size_t>(16, mc - s);
        float* d0 = ap + (s / MR) * kc * MR;
        float* d1 = d0 + kc * MR;
        const float* src = A + (i0 + s) * lda + p0;
        size_t k = 0;
        for (; k + 16 <= kc; k += 16) {
            __m512 t[16];
            transpose_16x16(src + k, lda, rows, t);
#pragma GCC unroll 16
            for (size_t j = 0; j < 16; ++j) _mm256_storeu_ps(d0 + (k + j) * MR, _mm512_castps512_ps256(t[j]));
            if (rows > 8)
#pragma GCC unroll 16
                for (size_t j = 0; j < 16; ++j) _mm256_storeu_ps(d1 + (k + j) * MR, _mm512_extractf32x8_ps(t[j], 1));
        }
        for (size_t r = 0; r < (rows + 7) / 8 * 8; ++r)
            for (size_t kk = k; kk < kc; ++kk) d0[(r / 8) * kc * MR + kk * MR + r % 8] = r < rows ? src[r * lda + kk] : 0.0f;
    }
#endif
    for (; s < mc; s += MR) {
        const size_t rows = std::min(MR, mc - s);
        float* dst = ap + (s / MR) * kc * MR;
        const float* src = A + (i0 + s) * lda + p0;
        for (size_t r = 0; r < MR; ++r)
            for (size_t k = 0; k < kc; ++k) dst[k * MR + r] = r < rows ? src[r * lda + k] : 0.0f;
    }
}

// Depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into slivers of NR columns: sliver t holds
// op(B)(p0 + k, j0 + t*NR + j) at bp[t*kc*NR + k*NR + j], columns past nc zero.
inline void gemm_pack_b(transpose tb, const float* B, size_t ldb, size_t p0, size_t kc, size_t j0, size_t nc,
                        float* __restrict bp) noexcept {
    constexpr size_t NR = gemm_nr;
    if (tb == transpose::no) {  // B [K, N]: the NR values of one k are contiguous
        // one row of B at a time across all slivers: a long contiguous read per k rather than
        // kc rows of 128 bytes per sliver, each in its own page when ldb is large
        const size_t full = nc / NR * NR;
        for (size_t k = 0; k < kc; ++k) {
            const float* src = B + (p0 + k) * ldb + j0;
            for (size_t t = 0; t < full; t += NR)
#pragma GCC unroll 4
                for (size_t v = 0; v < NR; v += vsize)
                    vfloat::load_unaligned(src + t + v).store_aligned(bp + (t / NR) * kc * NR + k * NR + v);
            if (full < nc)
                for (size_t j = 0; j < NR; ++j) bp[(full / NR) * kc * NR + k * NR + j] = full + j < nc ? src[full + j] : 0.0f;
        }
        return;
    }
    for (size_t t = 0; t < nc; t += NR) {
        const size_t cols = std::min(NR, nc - t);
        float* dst = bp + (t / NR) * kc * NR;
        // B stored [N, K]: a column of op(B) is a contiguous row of B
        const float* src = B + (j0 + t) * ldb + p0;
        size_t k = 0;
#if defined(__AVX512F__)
        static_assert(gemm_nr == 32);
        for (; k + 16 <= kc; k += 16)
            for (size_t h = 0; h < 2; ++h) {
                if (16 * h >= cols) {
                    for (size_t j = 0; j < 16; ++j) _mm512_store_ps(dst + (k + j) * NR + 16 * h, _mm512_setzero_ps());
                    continue;
                }
                __m512 tr[16];
                transpose_16x16(src + 16 * h * ldb + k, ldb, cols - 16 * h, tr);
#pragma GCC unroll 16
                for (size_t j = 0; j < 16; ++j) _mm512_store_ps(dst + (k + j) * NR + 16 * h, tr[j]);
            }
#endif
        for (size_t j = 0; j < NR; ++j)
            for (size_t kk = k; kk < kc; ++kk) dst[kk * NR + j] = j < cols ? src[j * ldb + kk] : 0.0f;
    }
}

// c[MR, NR] (row stride ldc) = (load_c ? c : 0) + sum over k < depth of a(m, k) · b[k][0:NR],
// each accumulator one FMA chain in k order. a(m, k) reads the left operand as its caller lays
// it out (packed slivers here, activation rows in linear.hpp); b is [depth][NR], vector-aligned.
// MR x NR/vsize accumulators stay in registers (8 x 2 on AVX-512). Always inlined, so each
// caller's constants (strides, ldc) fold into its own copy.
template <size_t MR, size_t NR, class LeftAt>
[[gnu::always_inline]] inline void fma_tile(size_t depth, LeftAt a, const float* __restrict b, float* __restrict c,
                                            size_t ldc, bool load_c) noexcept {
    constexpr size_t NV = NR / vsize;
    vfloat acc[MR][NV];
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m)
#pragma GCC unroll 4
        for (size_t v = 0; v < NV; ++v) acc[m][v] = load_c ? vfloat::load_unaligned(c + m * ldc + v * vsize) : vfloat(0.0f);
    for (size_t k = 0; k < depth; ++k) {
        vfloat bv[NV];
#pragma GCC unroll 4
        for (size_t v = 0; v < NV; ++v) bv[v] = vfloat::load_aligned(b + k * NR + v * vsize);
#pragma GCC unroll 8
        for (size_t m = 0; m < MR; ++m) {
            const vfloat av(a(m, k));
#pragma GCC unroll 4
            for (size_t v = 0; v < NV; ++v) acc[m][v] = xsimd::fma(av, bv[v], acc[m][v]);
        }
    }
#pragma GCC unroll 8
    for (size_t m = 0; m < MR; ++m)
#pragma GCC unroll 4
        for (size_t v = 0; v < NV; ++v) acc[m][v].store_unaligned(c + m * ldc + v * vsize);
}

// The GEMM's tile: an A sliver ([kc][MR]) against a B sliver ([kc][NR]).
inline void gemm_micro_kernel(size_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c,
                              size_t ldc, bool load_c) noexcept {
    fma_tile<gemm_mr, gemm_nr>(kc, [a](size_t m, size_t k) { return a[k * gemm_mr + m]; }, b, c, ldc, load_c);
}

// A tile of rows x cols (<= MR x NR) at the edge of C: the same kernel on a padded buffer,
// so its elements get exactly the operations a full tile would give them.
inline void gemm_edge_tile(size_t kc, const float* a, const float* b, float* c, size_t ldc, size_t rows, size_t cols,
                           bool load_c) noexcept {
    constexpr size_t MR = gemm_mr, NR = gemm_nr;
    alignas(64) float tile[MR * NR] = {};
    if (load_c)
        for (size_t m = 0; m < rows; ++m) std::memcpy(tile + m * NR, c + m * ldc, cols * sizeof(float));
    gemm_micro_kernel(kc, a, b, tile, NR, load_c);
    for (size_t m = 0; m < rows; ++m) std::memcpy(c + m * ldc, tile + m * NR, cols * sizeof(float));
}

}  // namespace detail

// C[M, N] = beta·C + op(A)·op(B), row-major. op(A) is [M, K]: A itself ([M, K], row stride lda)
// or the transpose of A ([K, M] stored, stride lda). op(B) is [K, N]: B ([K, N], ldb) or Bᵀ
// (B stored [N, K], ldb). beta is 0 (overwrite; C need not be initialised) or 1 (accumulate).
// Only the block rows [m0, m1) × cols [n0, n1) of C are computed, so callers split C over threads.
// Every C element is one fixed-order reduction over k = 0..K-1 (whatever the split), so results
// are bit-identical for any tiling of C across threads. C must not overlap A or B.
inline void gemm_block(transpose ta, transpose tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
                       const float* B, size_t ldb, float beta, float* C, size_t ldc, size_t m0, size_t m1, size_t n0,
                       size_t n1) {
    using namespace detail;
    m1 = std::min(m1, M);
    n1 = std::min(n1, N);
    if (m0 >= m1 || n0 >= n1) return;
    if (K == 0) {
        if (beta == 0.0f)
            for (size_t i = m0; i < m1; ++i) std::fill(C + i * ldc + n0, C + i * ldc + n1, 0.0f);
        return;
    }
    thread_local std::vector<float, xsimd::aligned_allocator<float, 64>> a_pack, b_pack;
    const size_t nc_max = std::min(gemm_nc, (n1 - n0 + gemm_nr - 1) / gemm_nr * gemm_nr);
    const size_t kc_max = std::min(gemm_kc, K);
    if (a_pack.size() < gemm_mc * kc_max) a_pack.resize(gemm_mc * kc_max);
    if (b_pack.size() < nc_max * kc_max) b_pack.resize(nc_max * kc_max);
    // depth blocks of equal size (K = 512 is two of 256, not 384 + 128)
    const size_t depth = (K + (K + gemm_kc - 1) / gemm_kc - 1) / ((K + gemm_kc - 1) / gemm_kc);
    for (size_t jc = n0; jc < n1; jc += gemm_nc) {
        const size_t nc = std::min(gemm_nc, n1 - jc);
        for (size_t pc = 0; pc < K; pc += depth) {
            const size_t kc = std::min(depth, K - pc);
            const bool load_c = pc > 0 || beta != 0.0f;
            gemm_pack_b(tb, B, ldb, pc, kc, jc, nc, b_pack.data());
            for (size_t ic = m0; ic < m1; ic += gemm_mc) {
                const size_t mc = std::min(gemm_mc, m1 - ic);
                gemm_pack_a(ta, A, lda, ic, mc, pc, kc, a_pack.data());
                for (size_t jr = 0; jr < nc; jr += gemm_nr) {
                    const size_t cols = std::min(gemm_nr, nc - jr);
                    const float* bs = b_pack.data() + (jr / gemm_nr) * kc * gemm_nr;
                    for (size_t ir = 0; ir < mc; ir += gemm_mr) {
                        const size_t rows = std::min(gemm_mr, mc - ir);
                        const float* as = a_pack.data() + (ir / gemm_mr) * kc * gemm_mr;
                        float* c = C + (ic + ir) * ldc + jc + jr;
                        // the next tile's rows of C, read (beta 1, later depth blocks) or written
                        // soon: prefetched while this tile runs (a few percent at 2048^3)
                        for (size_t m = gemm_mr; m < std::min(2 * gemm_mr, mc - ir); ++m)
                            for (size_t j = 0; j < cols; j += 16) __builtin_prefetch(c + m * ldc + j, 1);
                        if (rows == gemm_mr && cols == gemm_nr)
                            gemm_micro_kernel(kc, as, bs, c, ldc, load_c);
                        else
                            gemm_edge_tile(kc, as, bs, c, ldc, rows, cols, load_c);
                    }
                }
            }
        }
    }
}

// Plain reference (double accumulation): the oracle of the tests. C = beta·C + op(A)·op(B).
inline void gemm_reference(transpose ta, transpose tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
                           const float* B, size_t ldb, float beta, float* C, size_t ldc) {
    for (size_t i = 0; i < M; ++i)
        for (size_t j = 0; j < N; ++j) {
            double s = beta == 0.0f ? 0.0 : double(beta) * double(C[i * ldc + j]);
            for (size_t k = 0; k < K; ++k) {
                const float a = ta == transpose::no ? A[i * lda + k] : A[k * lda + i];
                const float b = tb == transpose::no ? B[k * ldb + j] : B[j * ldb + k];
                s += double(a) * double(b);
            }
            C[i * ldc + j] = float(s);
        }
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
