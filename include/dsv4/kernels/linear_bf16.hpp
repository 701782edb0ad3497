// dsv4/kernels/linear_bf16.hpp — prefill GEMM for BF16 weights on AVX512-BF16 dot products.
//
//   x: [M, K] f32 rows (rounded to bf16 here, round-to-nearest-even), W: [N, K] bf16,
//   y[m*ldy + (n - n0)] = Σ_k bf16(x[m,k]) · W[n,k]  (products exact, f32 accumulation)
//
// vdpbf16ps multiplies 32 bf16 pairs per instruction (2x the multiply-adds of an f32 FMA),
// so a 32-column panel of W is packed as k-pairs ([K/2][32] dwords, each = W[n,2p] | W[n,2p+1]<<16)
// and an 8x32 register tile broadcasts one activation pair per row. Rounding activations to
// bf16 is a precision choice (about 3 significant digits per input): the float path
// (linear.hpp) stays the default; this kernel is for callers who opt into it. Without
// AVX512-BF16 it falls back to the same math in scalar code.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include <dsv4/error.hpp>
#include <dsv4/kernels/linear.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4::kernels {

namespace detail {

inline constexpr size_t bf16_panel_pairs = 128;  // 256 k values per panel

// Activation rows as bf16 pairs: xb[m * pairs + p] = bf16(x[m, 2p]) | bf16(x[m, 2p+1]) << 16.
inline void pack_activation_pairs(const float* x, size_t ldx, size_t M, size_t K, std::vector<uint32_t>& xb) {
    const size_t pairs = (K + 1) / 2;
    xb.assign(M * pairs, 0);
    for (size_t m = 0; m < M; ++m)
        for (size_t p = 0; p < pairs; ++p) {
            const uint32_t lo = encode_bf16(x[m * ldx + 2 * p]);
            const uint32_t hi = 2 * p + 1 < K ? encode_bf16(x[m * ldx + 2 * p + 1]) : 0u;
            xb[m * pairs + p] = lo | (hi << 16);
        }
}

}  // namespace detail

inline void linear_rows_bf16_dot(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n0, size_t n1,
                                 float* y, size_t ldy) {
    DSV4_CHECK(w.format == weight_format::bf16, "linear_rows_bf16_dot: weights must be bf16, got ", to_string(w.format));
    const size_t K = w.in, pairs = (K + 1) / 2;
    const auto* W = static_cast<const uint16_t*>(w.data);
    thread_local std::vector<uint32_t> xb;
    detail::pack_activation_pairs(x, ldx, M, K, xb);
#if defined(__AVX512BF16__)
    thread_local std::vector<uint32_t, xsimd::aligned_allocator<uint32_t, 64>> panel;
    thread_local std::vector<float> acc;
    constexpr size_t NR = detail::panel_cols, PC = detail::bf16_panel_pairs, MR = 8;
    panel.resize(PC * NR);
    acc.resize(M * NR);
    for (size_t nt = n0; nt < n1; nt += NR) {
        const size_t cols = std::min(NR, n1 - nt);
        for (size_t p0 = 0; p0 < pairs; p0 += PC) {
            const size_t p1 = std::min(pairs, p0 + PC), depth = p1 - p0;
            for (size_t j = 0; j < NR; ++j)
                for (size_t p = p0; p < p1; ++p) {
                    uint32_t v = 0;
                    if (j < cols) {
                        const uint16_t* r = W + (nt + j) * K;
                        v = r[2 * p] | (2 * p + 1 < K ? uint32_t(r[2 * p + 1]) << 16 : 0u);
                    }
                    panel[(p - p0) * NR + j] = v;
                }
            for (size_t m = 0; m < M; m += MR) {
                const size_t rows = std::min(MR, M - m);
                __m512 c[MR][2];
                for (size_t i = 0; i < MR; ++i)
                    for (size_t v = 0; v < 2; ++v)
                        c[i][v] = (p0 > 0 && i < rows) ? _mm512_loadu_ps(acc.data() + (m + i) * NR + 16 * v) : _mm512_setzero_ps();
                for (size_t p = 0; p < depth; ++p) {
                    const __m512bh b0 = (__m512bh)_mm512_load_si512(panel.data() + p * NR);
                    const __m512bh b1 = (__m512bh)_mm512_load_si512(panel.data() + p * NR + 16);
#pragma GCC unroll 8
                    for (size_t i = 0; i < MR; ++i) {
                        if (i >= rows) break;
                        const __m512bh a = (__m512bh)_mm512_set1_epi32(int(xb[(m + i) * pairs + p0 + p]));
                        c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
                        c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
                    }
                }
                for (size_t i = 0; i < rows; ++i)
                    for (size_t v = 0; v < 2; ++v) _mm512_storeu_ps(acc.data() + (m + i) * NR + 16 * v, c[i][v]);
            }
        }
        for (size_t m = 0; m < M; ++m) std::memcpy(y + m * ldy + (nt - n0), acc.data() + m * NR, cols * sizeof(float));
    }
#else
    for (size_t n = n0; n < n1; ++n)
        for (size_t m = 0; m < M; ++m) {
            float s = 0;
            for (size_t p = 0; p < pairs; ++p) {
                const uint32_t a = xb[m * pairs + p];
                s += decode_bf16(uint16_t(a)) * decode_bf16(W[n * K + 2 * p]);
                if (2 * p + 1 < K) s += decode_bf16(uint16_t(a >> 16)) * decode_bf16(W[n * K + 2 * p + 1]);
            }
            y[m * ldy + (n - n0)] = s;
        }
#endif
}

}  // namespace dsv4::kernels
