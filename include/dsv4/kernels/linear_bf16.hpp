// dsv4/kernels/linear_bf16.hpp — prefill GEMM for BF16 weights on AVX512-BF16 dot products.
//
//   xb: [M, K] activations rounded to bf16 (bf16_activations, act_quant.hpp), W: [N, K] bf16,
//   y[m*ldy + (n - n0)] = Σ_k bf16(x[m,k]) · W[n,k]  (products exact, f32 accumulation)
//
// The model's BF16 products (head, gate, compressors) under model_options::quantize_activations
// take bf16 activations, as the official inference does; linear_rows sends their prefill rows
// (M > 4) here where the build has AVX512-BF16 (bf16dot_gemm_available). Products of two bf16
// values are exact in f32, so this is the math of the float GEMM on the rounded rows, summed in
// another order; the default (f32 activations) never comes here.
// vdpbf16ps multiplies 32 bf16 pairs per instruction (2x the multiply-adds of an f32 FMA),
// so a 32-column panel of W is packed as k-pairs ([K/2][32] dwords, each = W[n,2p] | W[n,2p+1]<<16)
// and an MRx32 register tile broadcasts one activation pair per row. The activations are packed
// into bf16 pairs once per product (rounded_row::prepare_bf16_pairs before the parallel region),
// not once per thread's row range. vdpbf16ps treats subnormal inputs and results as zero (it
// ignores MXCSR): bf16 values below 2^-126 count as 0. Without AVX512-BF16 the kernel falls back
// to the same math in scalar code (linear_rows then keeps the float GEMM, which is faster).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/error.hpp>
#include <dsv4/kernels/act_quant.hpp>
#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/linear_weight.hpp>
#include <dsv4/tensor/number_formats.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

// Whether prefill rows (M > 4) of this weight take the GEMM below (else: the float GEMM).
inline bool bf16dot_gemm_available(const linear_weight& w) noexcept {
#if defined(__AVX512BF16__)
    return w.format == weight_format::bf16 && w.input == input_rounding::bf16;
#else
    (void)w;
    return false;
#endif
}

// Packs x (M rows of K = their common width, row stride K) once for every product among `ws`
// that takes the GEMM below. False, with `rows` untouched, when none does or their widths differ.
inline bool prepare_rows_for_bf16dot(rounded_row& rows, const float* x, size_t M, std::span<const linear_weight* const> ws) {
    size_t K = 0;
    for (const auto* w : ws) {
        if (w->empty() || !bf16dot_gemm_available(*w)) continue;
        if (K != 0 && w->in != K) return false;
        K = w->in;
    }
    if (K == 0) return false;
    rows.prepare_bf16_pairs(x, M, K);
    return true;
}

namespace detail {

inline constexpr size_t bf16_panel_cols = 32;    // NR: two AVX-512 vectors of f32 sums
inline constexpr size_t bf16_panel_pairs = 512;  // 1024 k values per panel (64 KB, L2): K <= 1024 in one pass
inline constexpr size_t bf16_tile_rows = 12;     // MR: 12 x 2 accumulators + 2 panel vectors in registers

#if defined(__AVX512BF16__)
// dst[i * ld_dst + j] = dword i of row j, for a 16 x 16 block of dwords: 16 rows of 64 bytes
// (row stride ld_src bytes) become 16 columns. Four rounds of lane shuffles, no scalar moves.
inline void transpose_16x16(const void* src, size_t ld_src, uint32_t* dst, size_t ld_dst) noexcept {
    __m512i r[16], t[16];
    for (size_t j = 0; j < 16; ++j) r[j] = _mm512_loadu_si512(static_cast<const char*>(src) + j * ld_src);
    for (size_t j = 0; j < 16; j += 2) {
        t[j] = _mm512_unpacklo_epi32(r[j], r[j + 1]);
        t[j + 1] = _mm512_unpackhi_epi32(r[j], r[j + 1]);
    }
    for (size_t j = 0; j < 16; j += 4) {
        r[j] = _mm512_unpacklo_epi64(t[j], t[j + 2]);
        r[j + 1] = _mm512_unpackhi_epi64(t[j], t[j + 2]);
        r[j + 2] = _mm512_unpacklo_epi64(t[j + 1], t[j + 3]);
        r[j + 3] = _mm512_unpackhi_epi64(t[j + 1], t[j + 3]);
    }
    // each 128-bit lane of r now holds a transposed 4x4 block; two rounds of lane shuffles
    // put the 16 blocks in place
    for (size_t j = 0; j < 4; ++j) {
        t[j] = _mm512_shuffle_i32x4(r[j], r[j + 4], 0x88);
        t[j + 4] = _mm512_shuffle_i32x4(r[j], r[j + 4], 0xDD);
        t[j + 8] = _mm512_shuffle_i32x4(r[j + 8], r[j + 12], 0x88);
        t[j + 12] = _mm512_shuffle_i32x4(r[j + 8], r[j + 12], 0xDD);
    }
    for (size_t j = 0; j < 4; ++j) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xDD);
        r[j + 4] = _mm512_shuffle_i32x4(t[j + 4], t[j + 12], 0x88);
        r[j + 12] = _mm512_shuffle_i32x4(t[j + 4], t[j + 12], 0xDD);
    }
    for (size_t i = 0; i < 16; ++i) _mm512_storeu_si512(dst + i * ld_dst, r[i]);
}

// c[R][2] (+)= rows [m, m+R) of xb over the panel's `depth` pairs, R <= bf16_tile_rows.
// acc: rows of ld floats (the y rows themselves when the product is one pass over K).
template <size_t R>
inline void bf16_tile(const bf16_activations& xb, size_t m, size_t p0, size_t depth, const uint32_t* panel, float* acc,
                      size_t ld, bool accumulate) noexcept {
    constexpr size_t NR = bf16_panel_cols;
    __m512 c[R][2];
#pragma GCC unroll 12
    for (size_t i = 0; i < R; ++i)
        for (size_t v = 0; v < 2; ++v)
            c[i][v] = accumulate ? _mm512_loadu_ps(acc + (m + i) * ld + 16 * v) : _mm512_setzero_ps();
    const uint32_t* a = xb.data.data() + m * xb.pairs + p0;
    for (size_t p = 0; p < depth; ++p) {
        const __m512i b0 = _mm512_load_si512(panel + p * NR), b1 = _mm512_load_si512(panel + p * NR + 16);
#pragma GCC unroll 12
        for (size_t i = 0; i < R; ++i) {
            const __m512i ai = _mm512_set1_epi32(int(a[i * xb.pairs + p]));
            c[i][0] = _mm512_dpbf16_ps(c[i][0], reinterpret_cast<const __m512bh&>(ai), reinterpret_cast<const __m512bh&>(b0));
            c[i][1] = _mm512_dpbf16_ps(c[i][1], reinterpret_cast<const __m512bh&>(ai), reinterpret_cast<const __m512bh&>(b1));
        }
    }
#pragma GCC unroll 12
    for (size_t i = 0; i < R; ++i)
        for (size_t v = 0; v < 2; ++v) _mm512_storeu_ps(acc + (m + i) * ld + 16 * v, c[i][v]);
}

template <size_t... R>
inline void bf16_tile_tail(size_t rows, const bf16_activations& xb, size_t m, size_t p0, size_t depth, const uint32_t* panel,
                           float* acc, size_t ld, bool accumulate, std::index_sequence<R...>) noexcept {
    ((rows == R + 1 ? bf16_tile<R + 1>(xb, m, p0, depth, panel, acc, ld, accumulate) : void()), ...);
}
#endif

}  // namespace detail

// y[m*ldy + (n - n0)] = Σ_k xb[m, k] · W[n, k] for n in [n0, n1), W bf16.
inline void linear_rows_bf16_dot(const bf16_activations& xb, const linear_weight& w, size_t n0, size_t n1, float* y,
                                 size_t ldy) {
    DSV4_CHECK(w.format == weight_format::bf16, "linear_rows_bf16_dot: weights must be bf16, got ", to_string(w.format));
    DSV4_CHECK(xb.K == w.in, "linear_rows_bf16_dot: activations have ", xb.K, " columns, the weight takes ", w.in);
    const size_t K = w.in, pairs = xb.pairs, M = xb.M;
    const auto* W = static_cast<const uint16_t*>(w.data);
#if defined(__AVX512BF16__)
    thread_local std::vector<uint32_t, xsimd::aligned_allocator<uint32_t, 64>> panel;
    thread_local std::vector<float> acc;
    constexpr size_t NR = detail::bf16_panel_cols, PC = detail::bf16_panel_pairs, MR = detail::bf16_tile_rows;
    panel.resize(PC * NR);
    acc.resize(M * NR);
    size_t n0_done = n0;
    // panel[p][j] = W[nt + j, 2(p0 + p)] | W[nt + j, 2(p0 + p) + 1] << 16 for a whole panel of
    // columns, even K and depth % 16 == 0: 16x16 dword transposes
    auto pack_panel_transposed = [&](size_t nt, size_t p0, size_t p1, uint32_t* dst) {
        for (size_t j0 = 0; j0 < NR; j0 += 16)
            for (size_t p = p0; p < p1; p += 16) detail::transpose_16x16(W + (nt + j0) * K + 2 * p, K * 2, dst + (p - p0) * NR + j0, NR);
    };
    // partial panels, odd K or ragged depth: element by element
    auto pack_panel_scalar = [&](size_t nt, size_t cols, size_t p0, size_t p1) {
        std::fill(panel.begin(), panel.end(), 0u);
        for (size_t j = 0; j < cols; ++j) {
            const uint16_t* r = W + (nt + j) * K;
            const size_t full = std::min(p1, K / 2);
            for (size_t p = p0; p < full; ++p) {
                uint32_t v;
                std::memcpy(&v, r + 2 * p, 4);
                panel[(p - p0) * NR + j] = v;
            }
            if (full < p1) panel[(full - p0) * NR + j] = r[2 * full];  // odd K: the last pair's high half is 0
        }
    };
    // One pass over K (K <= 1024) with whole panels: GROUP panels are packed side by side
    // (GROUP x 64 KB, L2) and every activation tile (12 rows x K, L1) runs over all of them
    // before the next, so the activations are streamed once per group rather than per panel
    // (+6-18% on the benchmark shapes; 8 panels measured no better than 4). Each output is the
    // same chain of dot products as on the panel-by-panel path below.
    const size_t whole_end = n0 + (n1 - n0) / NR * NR;
    if (pairs <= PC && K % 2 == 0 && pairs % 16 == 0) {
        constexpr size_t GROUP = 4;
        thread_local std::vector<uint32_t, xsimd::aligned_allocator<uint32_t, 64>> panels;
        panels.resize(GROUP * pairs * NR);
        for (size_t g0 = n0; g0 < whole_end; g0 += GROUP * NR) {
            const size_t count = std::min(GROUP, (whole_end - g0) / NR);
            for (size_t g = 0; g < count; ++g) pack_panel_transposed(g0 + g * NR, 0, pairs, panels.data() + g * pairs * NR);
            size_t m = 0;
            for (; m + MR <= M; m += MR)
                for (size_t g = 0; g < count; ++g)
                    detail::bf16_tile<MR>(xb, m, 0, pairs, panels.data() + g * pairs * NR, y + (g0 + g * NR - n0), ldy, false);
            if (m < M)
                for (size_t g = 0; g < count; ++g)
                    detail::bf16_tile_tail(M - m, xb, m, 0, pairs, panels.data() + g * pairs * NR, y + (g0 + g * NR - n0), ldy,
                                           false, std::make_index_sequence<MR - 1>{});
        }
        n0_done = whole_end;
    }
    for (size_t nt = n0_done; nt < n1; nt += NR) {
        const size_t cols = std::min(NR, n1 - nt);
        for (size_t p0 = 0; p0 < pairs; p0 += PC) {
            const size_t p1 = std::min(pairs, p0 + PC), depth = p1 - p0;
            // panel[p][j] = W[nt + j, 2p] | W[nt + j, 2p + 1] << 16 (zero past the matrix)
            if (cols == NR && K % 2 == 0 && depth % 16 == 0)
                pack_panel_transposed(nt, p0, p1, panel.data());
            else
                pack_panel_scalar(nt, cols, p0, p1);
            // a whole panel of columns in one pass over K goes straight to y, else through acc
            const bool direct = cols == NR && pairs <= PC;
            float* out = direct ? y + (nt - n0) : acc.data();
            const size_t ld = direct ? ldy : NR;
            size_t m = 0;
            for (; m + MR <= M; m += MR) detail::bf16_tile<MR>(xb, m, p0, depth, panel.data(), out, ld, p0 > 0);
            if (m < M)
                detail::bf16_tile_tail(M - m, xb, m, p0, depth, panel.data(), out, ld, p0 > 0,
                                       std::make_index_sequence<MR - 1>{});
        }
        if (!(cols == NR && pairs <= PC))
            for (size_t m = 0; m < M; ++m) std::memcpy(y + m * ldy + (nt - n0), acc.data() + m * NR, cols * sizeof(float));
    }
#else
    for (size_t n = n0; n < n1; ++n)
        for (size_t m = 0; m < M; ++m) {
            float s = 0;
            for (size_t p = 0; p < pairs; ++p) {
                const uint32_t a = xb.data[m * pairs + p];
                s += decode_bf16(uint16_t(a)) * decode_bf16(W[n * K + 2 * p]);
                if (2 * p + 1 < K) s += decode_bf16(uint16_t(a >> 16)) * decode_bf16(W[n * K + 2 * p + 1]);
            }
            y[m * ldy + (n - n0)] = s;
        }
#endif
}

// The same from f32 rows: packs them (once per call) and runs the kernel above.
inline void linear_rows_bf16_dot(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n0, size_t n1,
                                 float* y, size_t ldy) {
    DSV4_CHECK(w.format == weight_format::bf16, "linear_rows_bf16_dot: weights must be bf16, got ", to_string(w.format));
    thread_local bf16_activations xb;
    pack_bf16_activations(x, ldx, M, w.in, xb);
    linear_rows_bf16_dot(xb, w, n0, n1, y, ldy);
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
