// dsv4/kernels/linear.hpp — y = x · Wᵀ for weights in their stored format.
//
//   x: [M, K] f32 rows (row stride ldx), W: [N, K] (PyTorch layout), y: [M, N'] (stride ldy)
//   formats: f32, bf16, fp8 e4m3 with one e8m0 scale per 128x128 tile ([ceil(N/128), ceil(K/128)]),
//            fp4 e2m1 packed two per byte with one e8m0 scale per 32 inputs of a row ([N, K/32]).
//
// Two paths, both with dequantisation fused into the inner loop (never a whole-matrix copy):
//  * M <= 4 (decode, small expert groups): each weight vector is decoded in registers and
//    FMA'd into M accumulators, so every weight byte is read once — a GEMV at memory speed.
//    FP8 codes become f16 by bit placement (exact, subnormals included) and f32 by one
//    vcvtph2ps; FP4 nibbles go through a 16-entry in-register table against activations
//    pre-arranged to the nibble order; rows are prefetched 8 KB ahead. In builds for CPUs
//    with AVX512-BF16 and VBMI, M = 1 rows of FP8/FP4 weights with K % 128 == 0 take the
//    bf16 dot-product kernels instead (gemv_bf16dot.hpp: x split exactly into three bf16
//    parts, every product exact for |x| >= 2^-103; below, parts and products under 2^-126
//    are flushed, which only values under about 2^-94 can meet).
//  * M > 4 (prefill): a 32-column panel of W over 256 inputs is decoded once into an
//    L1-resident packed block [256][32] and a register-blocked 8x32 micro-kernel streams the
//    activation rows over it.
// Every output is one fixed-order reduction, so splitting [n0, n1) across threads gives
// bit-identical results. AVX-512 code paths have a portable scalar fallback. By default
// activations stay f32: the float math of the architecture (what the golden data holds).
// A weight with `input` set (model_options::quantize_activations) rounds them first as the
// official inference does (act_quant.hpp; decode rows on gemv_bf16dot.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/kernels/act_quant.hpp>
#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/gemm.hpp>
#include <dsv4/kernels/gemv_bf16dot.hpp>
#include <dsv4/kernels/linear_bf16.hpp>
#include <dsv4/kernels/linear_weight.hpp>
#include <dsv4/kernels/simd.hpp>
#include <dsv4/tensor/number_formats.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

// ------------------------------------------------------------------ row decoding

// W[n, k0:k1) as f32 into dst[0, k1-k0). k0 must be a multiple of the format's scale
// block (128 for fp8, 32 for fp4) or 0. Returns dst, or a pointer into W for f32 storage.
inline const float* weight_row_range(const linear_weight& w, size_t n, size_t k0, size_t k1, float* __restrict dst) noexcept {
    const size_t K = w.in;
    switch (w.format) {
        case weight_format::f32: return static_cast<const float*>(w.data) + n * K + k0;
        case weight_format::bf16: {
            const auto* src = static_cast<const uint16_t*>(w.data) + n * K;
            size_t k = k0;
#if defined(__AVX512F__)
            for (; k + 16 <= k1; k += 16) {
                const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k)));
                _mm512_storeu_ps(dst + (k - k0), _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
            }
#endif
            for (; k < k1; ++k) dst[k - k0] = decode_bf16(src[k]);
            return dst;
        }
        case weight_format::fp8_e4m3: {
            const auto* src = static_cast<const uint8_t*>(w.data) + n * K;
            const uint8_t* srow = w.scale + (n / 128) * w.scale_cols;
            for (size_t kb = k0; kb < k1; kb += 128) {
                const float s = decode_e8m0(srow[kb / 128]);
                const size_t end = std::min(kb + 128, k1);
                size_t k = kb;
#if defined(__AVX512F__)
                const __m512 f = _mm512_mul_ps(_mm512_set1_ps(0x1p120f), _mm512_set1_ps(s));
                for (; k + 16 <= end; k += 16) {
                    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k)));
                    const __m512i bits = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x7F)), 20),
                                                         _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x80)), 24));
                    _mm512_storeu_ps(dst + (k - k0), _mm512_mul_ps(_mm512_castsi512_ps(bits), f));
                }
#endif
                for (; k < end; ++k) dst[k - k0] = fp8_e4m3_table[src[k]] * s;
            }
            return dst;
        }
        case weight_format::fp4_e2m1: {
            const auto* src = static_cast<const uint8_t*>(w.data) + n * (K / 2);
            const uint8_t* srow = w.scale + n * w.scale_cols;
            for (size_t kb = k0; kb < k1; kb += 32) {
                const float s = decode_e8m0(srow[kb / 32]);
#if defined(__AVX512F__)
                const __m512 table = _mm512_mul_ps(_mm512_loadu_ps(fp4_e2m1_table.data()), _mm512_set1_ps(s));
                const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + kb / 2)));
                const __m512 lo = _mm512_permutexvar_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xF)), table);
                const __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
                const __m512i i0 = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
                const __m512i i1 = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
                _mm512_storeu_ps(dst + (kb - k0), _mm512_permutex2var_ps(lo, i0, hi));
                _mm512_storeu_ps(dst + (kb - k0) + 16, _mm512_permutex2var_ps(lo, i1, hi));
#else
                for (size_t k = kb; k < kb + 32; k += 2) {
                    const uint8_t byte = src[k / 2];
                    dst[k - k0] = fp4_e2m1_table[byte & 0xF] * s;
                    dst[k - k0 + 1] = fp4_e2m1_table[byte >> 4] * s;
                }
#endif
            }
            return dst;
        }
    }
    return dst;
}

// Row n of W as f32 in dst[0, K) (or a pointer straight into W for f32 storage).
inline const float* weight_row(const linear_weight& w, size_t n, float* __restrict dst) noexcept {
    return weight_row_range(w, n, 0, w.in, dst);
}

// ------------------------------------------------------------------ small-M path (GEMV)

namespace detail {

inline constexpr size_t max_gemv_rows = 4;

// Scalar fallback and tail handler: y[m] = x[m] · W[n] via a decoded row.
inline void gemv_row_generic(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n, float* y, size_t ldy,
                             float* scratch) noexcept {
    const float* row = weight_row(w, n, scratch);
    for (size_t m = 0; m < M; ++m) y[m * ldy] = dot(x + m * ldx, row, w.in);
}

#if defined(__AVX512F__)
// 32 FP8 codes -> two vectors of (value x 2^-8): sign-extending a byte to 16 bits and
// shifting it left by 7 lays s/eeee/mmm onto an f16's sign/exponent/mantissa once bit 14
// (a copy of the sign) is cleared; f16 -> f32 is one instruction. Exact, subnormals included.
inline void fp8x32_to_f32_scaled_down(const uint8_t* p, __m512& lo, __m512& hi) noexcept {
    const __m512i h = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 7),
                                       _mm512_set1_epi16(short(0xBF80)));
    lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

// M = 1, four rows at a time: each activation vector load serves four weight rows, so a
// long x (K = 8192 is 32 KB, an L1's worth) is streamed from cache a quarter as often. Each
// row's operations and their order are exactly those of the one-row loop below, so results
// are bit-identical whichever way rows are grouped (K must be a multiple of 128).
inline void gemv_fp8_four_rows(const float* x, const linear_weight& w, size_t n, float* y) noexcept {
    const size_t K = w.in;
    const uint8_t* src[4];
    const uint8_t* srow[4];
    for (size_t r = 0; r < 4; ++r) {
        src[r] = static_cast<const uint8_t*>(w.data) + (n + r) * K;
        srow[r] = w.scale + ((n + r) / 128) * w.scale_cols;
    }
    const size_t ahead = K >= 2 * gemv_prefetch_in_row ? gemv_prefetch_in_row : gemv_prefetch_distance;
    __m512 acc[4];
    for (size_t r = 0; r < 4; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t kb = 0; kb < K; kb += 128) {
        __m512 blk[4][2];
        for (size_t r = 0; r < 4; ++r) {
            prefetch_at(src[r] + kb, ahead);
            prefetch_at(src[r] + kb + 64, ahead);
        }
        for (size_t r = 0; r < 4; ++r) blk[r][0] = blk[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (size_t k = kb; k < kb + 128; k += 32) {
            const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
#pragma GCC unroll 4
            for (size_t r = 0; r < 4; ++r) {
                __m512 w0, w1;
                fp8x32_to_f32_scaled_down(src[r] + k, w0, w1);
                blk[r][0] = _mm512_fmadd_ps(w0, x0, blk[r][0]);
                blk[r][1] = _mm512_fmadd_ps(w1, x1, blk[r][1]);
            }
        }
        for (size_t r = 0; r < 4; ++r) {
            const __m512 f = _mm512_mul_ps(_mm512_set1_ps(256.0f), _mm512_set1_ps(decode_e8m0(srow[r][kb / 128])));
            acc[r] = _mm512_fmadd_ps(_mm512_add_ps(blk[r][0], blk[r][1]), f, acc[r]);
        }
    }
    for (size_t r = 0; r < 4; ++r) y[r] = hsum(acc[r]) + 0.0f;
}

template <size_t M>
inline void gemv_fp8(const float* x, size_t ldx, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) noexcept {
    const size_t K = w.in;
    size_t n_first = n0;
    if constexpr (M == 1) {
        if (K % 128 == 0)
            for (; n_first + 4 <= n1; n_first += 4) gemv_fp8_four_rows(x, w, n_first, y + (n_first - n0));
    }
    for (size_t n = n_first; n < n1; ++n) {
        const auto* src = static_cast<const uint8_t*>(w.data) + n * K;
        const uint8_t* srow = w.scale + (n / 128) * w.scale_cols;
        __m512 acc[M];
        for (size_t m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
        float tail[M] = {};
        for (size_t kb = 0; kb < K; kb += 128) {
            const float s = decode_e8m0(srow[kb / 128]);
            const size_t end = std::min(kb + 128, K);
            // per 128-block partial sums of (code value x 2^-8) * x, scaled once per block
            __m512 blk[M][2];
            for (size_t m = 0; m < M; ++m) blk[m][0] = blk[m][1] = _mm512_setzero_ps();
            size_t k = kb;
#pragma GCC unroll 4
            for (; k + 32 <= end; k += 32) {
                __m512 w0, w1;
                fp8x32_to_f32_scaled_down(src + k, w0, w1);
#pragma GCC unroll 4
                for (size_t m = 0; m < M; ++m) {
                    blk[m][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + m * ldx + k), blk[m][0]);
                    blk[m][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + m * ldx + k + 16), blk[m][1]);
                }
            }
            const __m512 f = _mm512_mul_ps(_mm512_set1_ps(256.0f), _mm512_set1_ps(s));
            for (size_t m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(_mm512_add_ps(blk[m][0], blk[m][1]), f, acc[m]);
            for (; k < end; ++k)
                for (size_t m = 0; m < M; ++m) tail[m] += fp8_e4m3_table[src[k]] * s * x[m * ldx + k];
        }
        for (size_t m = 0; m < M; ++m) y[m * ldy + (n - n0)] = hsum(acc[m]) + tail[m];
    }
}

// xs: [M][K] activations split per 32-block into 16 even then 16 odd elements.
template <size_t M>
inline void gemv_fp4(const float* xs, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) noexcept {
    const size_t K = w.in;
    const __m512 table = _mm512_loadu_ps(fp4_e2m1_table.data());
    const __m512i low4 = _mm512_set1_epi32(0xF);
    for (size_t n = n0; n < n1; ++n) {
        const auto* src = static_cast<const uint8_t*>(w.data) + n * (K / 2);
        const uint8_t* srow = w.scale + n * w.scale_cols;
        // four chains per row (two per block parity) hide the FMA latency at M = 1
        __m512 acc[M][4];
        for (size_t m = 0; m < M; ++m) acc[m][0] = acc[m][1] = acc[m][2] = acc[m][3] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (size_t kb = 0; kb < K; kb += 32) {
            // the block's scale is folded into the 16-entry table once per 32 weights
            const __m512 scaled = _mm512_mul_ps(table, _mm512_set1_ps(e8m0_table[srow[kb / 32]]));
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + kb / 2)));
            const __m512 lo = _mm512_permutexvar_ps(_mm512_and_si512(v, low4), scaled);
            const __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), scaled);
#pragma GCC unroll 4
            for (size_t m = 0; m < M; ++m) {
                const size_t a = (kb / 16) & 2;
                acc[m][a] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xs + m * K + kb), acc[m][a]);
                acc[m][a + 1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xs + m * K + kb + 16), acc[m][a + 1]);
            }
        }
        for (size_t m = 0; m < M; ++m)
            y[m * ldy + (n - n0)] = hsum(_mm512_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]), _mm512_add_ps(acc[m][2], acc[m][3])));
    }
}

// FP4 rows with K % 128 == 0: 64 packed bytes (128 weights) per step. Each dword lane d
// of the 64-byte vector holds weights 8d..8d+7; shifting it right by 4j puts weight 8d+j's
// nibble in the lane's low bits, which is all vpermps reads, so the 16-entry table maps it
// to its value without masking. The activations are pre-arranged to match
// (xp[g*128 + 16j + d] = x[g*128 + 8d + j]); lanes 4b..4b+3 share scale block b, so one
// per-lane scale vector multiplies the group's partial sum.
template <size_t M>
inline void gemv_fp4_128(const float* xp, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) noexcept {
    const size_t K = w.in;
    const __m512 table = _mm512_loadu_ps(fp4_e2m1_table.data());
    for (size_t n = n0; n < n1; ++n) {
        const auto* src = static_cast<const uint8_t*>(w.data) + n * (K / 2);
        const uint8_t* srow = w.scale + n * w.scale_cols;
        __m512 acc[M];
        for (size_t m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
        for (size_t g = 0; g < K; g += 128) {
            prefetch_ahead(src + g / 2);
            const __m512i v = _mm512_loadu_si512(src + g / 2);
            const __m512 sv = fp4_group_scales(srow + g / 32);
            __m512 part[M][2];
            for (size_t m = 0; m < M; ++m) part[m][0] = part[m][1] = _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) {
                const __m512 wv = _mm512_permutexvar_ps(_mm512_srli_epi32(v, unsigned(4 * j)), table);
#pragma GCC unroll 4
                for (size_t m = 0; m < M; ++m)
                    part[m][j & 1] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xp + m * K + g + 16 * size_t(j)), part[m][j & 1]);
            }
            for (size_t m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(_mm512_add_ps(part[m][0], part[m][1]), sv, acc[m]);
        }
        for (size_t m = 0; m < M; ++m) y[m * ldy + (n - n0)] = hsum(acc[m]);
    }
}

template <size_t M>
inline void gemv_bf16(const float* x, size_t ldx, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) noexcept {
    const size_t K = w.in;
    for (size_t n = n0; n < n1; ++n) {
        const auto* src = static_cast<const uint16_t*>(w.data) + n * K;
        __m512 acc[M][4];
        for (size_t m = 0; m < M; ++m) acc[m][0] = acc[m][1] = acc[m][2] = acc[m][3] = _mm512_setzero_ps();
        const size_t vec_end = K - K % 16;  // (bounds written out: GCC 12 misreads `k + 16 <= K` loops)
#pragma GCC unroll 4
        for (size_t k = 0; k < vec_end; k += 16) {
            if (k % 32 == 0) prefetch_ahead(src + k);
            const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k)));
            const __m512 wv = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
            const size_t a = (k / 16) & 3;
            for (size_t m = 0; m < M; ++m) acc[m][a] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * ldx + k), acc[m][a]);
        }
        for (size_t m = 0; m < M; ++m) {
            float s = hsum(_mm512_add_ps(_mm512_add_ps(acc[m][0], acc[m][1]), _mm512_add_ps(acc[m][2], acc[m][3])));
            for (size_t kk = vec_end; kk < K; ++kk) s += decode_bf16(src[kk]) * x[m * ldx + kk];
            y[m * ldy + (n - n0)] = s;
        }
    }
}

template <size_t M>
inline void gemv_f32(const float* x, size_t ldx, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) noexcept {
    const size_t K = w.in;
    for (size_t n = n0; n < n1; ++n) {
        const float* row = static_cast<const float*>(w.data) + n * K;
        __m512 acc[M][2];
        for (size_t m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
        const size_t vec_end = K - K % 16;
#pragma GCC unroll 4
        for (size_t k = 0; k < vec_end; k += 16) {
            const __m512 wv = _mm512_loadu_ps(row + k);
            const size_t a = (k / 16) & 1;
            for (size_t m = 0; m < M; ++m) acc[m][a] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * ldx + k), acc[m][a]);
        }
        for (size_t m = 0; m < M; ++m) {
            float s = hsum(_mm512_add_ps(acc[m][0], acc[m][1]));
            for (size_t kk = vec_end; kk < K; ++kk) s += row[kk] * x[m * ldx + kk];
            y[m * ldy + (n - n0)] = s;
        }
    }
}

template <size_t M>
inline void gemv_dispatch(const float* x, size_t ldx, const linear_weight& w, size_t n0, size_t n1, float* y, size_t ldy) {
    switch (w.format) {
        case weight_format::f32: gemv_f32<M>(x, ldx, w, n0, n1, y, ldy); return;
        case weight_format::bf16: gemv_bf16<M>(x, ldx, w, n0, n1, y, ldy); return;
        case weight_format::fp8_e4m3: gemv_fp8<M>(x, ldx, w, n0, n1, y, ldy); return;
        case weight_format::fp4_e2m1: {
            thread_local std::vector<float> xs;
            const size_t K = w.in;
            xs.resize(M * K);
            if (K % 128 == 0) {
                for (size_t m = 0; m < M; ++m)
                    for (size_t g = 0; g < K; g += 128)
                        for (size_t j = 0; j < 8; ++j)
                            for (size_t d = 0; d < 16; ++d) xs[m * K + g + 16 * j + d] = x[m * ldx + g + 8 * d + j];
                gemv_fp4_128<M>(xs.data(), w, n0, n1, y, ldy);
                return;
            }
            for (size_t m = 0; m < M; ++m)
                for (size_t kb = 0; kb < K; kb += 32)
                    for (size_t j = 0; j < 16; ++j) {
                        xs[m * K + kb + j] = x[m * ldx + kb + 2 * j];
                        xs[m * K + kb + 16 + j] = x[m * ldx + kb + 2 * j + 1];
                    }
            gemv_fp4<M>(xs.data(), w, n0, n1, y, ldy);
            return;
        }
    }
}
#endif

// ------------------------------------------------------------------ large-M path (GEMM)

inline constexpr size_t panel_cols = 32;   // NR: two AVX-512 vectors
inline constexpr size_t panel_depth = 256; // KC
inline constexpr size_t micro_rows = 8;    // MR

// Decodes W[n0 : n0+32, k0 : k1) into panel[k - k0][j] (columns past N are zero).
inline void pack_panel(const linear_weight& w, size_t n0, size_t k0, size_t k1, float* __restrict panel, float* row_buf) {
    const size_t cols = std::min(panel_cols, w.out - n0), depth = k1 - k0;
    for (size_t j = 0; j < cols; ++j) {
        const float* r = weight_row_range(w, n0 + j, k0, k1, row_buf);
        for (size_t k = 0; k < depth; ++k) panel[k * panel_cols + j] = r[k];
    }
    for (size_t j = cols; j < panel_cols; ++j)
        for (size_t k = 0; k < depth; ++k) panel[k * panel_cols + j] = 0.0f;
}

// acc[m][0:32] (+)= x[m, k0:k1) · panel for `rows` (<= 8) activation rows (gemm.hpp's tile).
template <size_t MR>
inline void micro_kernel(const float* x, size_t ldx, size_t depth, const float* panel, float* out, bool accumulate) noexcept {
    fma_tile<MR, panel_cols>(depth, [x, ldx](size_t m, size_t k) { return x[m * ldx + k]; }, panel, out, panel_cols, accumulate);
}

inline void gemm_rows(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n0, size_t n1, float* y,
                      size_t ldy) {
    const size_t K = w.in;
    thread_local std::vector<float, xsimd::aligned_allocator<float, 64>> panel, row_buf, acc;
    panel.resize(panel_depth * panel_cols);
    row_buf.resize(panel_depth);
    acc.resize(M * panel_cols);
    for (size_t nt = n0; nt < n1; nt += panel_cols) {
        const size_t cols = std::min(panel_cols, n1 - nt);
        for (size_t k0 = 0; k0 < K; k0 += panel_depth) {
            const size_t k1 = std::min(K, k0 + panel_depth);
            pack_panel(w, nt, k0, k1, panel.data(), row_buf.data());
            size_t m = 0;
            for (; m + micro_rows <= M; m += micro_rows)
                micro_kernel<micro_rows>(x + m * ldx + k0, ldx, k1 - k0, panel.data(), acc.data() + m * panel_cols, k0 > 0);
            for (; m < M; ++m) micro_kernel<1>(x + m * ldx + k0, ldx, k1 - k0, panel.data(), acc.data() + m * panel_cols, k0 > 0);
        }
        for (size_t m = 0; m < M; ++m) std::memcpy(y + m * ldy + (nt - n0), acc.data() + m * panel_cols, cols * sizeof(float));
    }
}

}  // namespace detail

// y[m*ldy + (n - n0)] = x[m] · W[n] for m < M, n in [n0, n1). scratch: K floats.
// Decode rows (M = 1) of FP8/FP4 weights (and, with rounded input, BF16) go to the bf16
// dot-product GEMVs (gemv_bf16dot.hpp) where the build has them, and prefill rows (M > 4) of
// BF16 weights with bf16-rounded input to the bf16 dot-product GEMM (linear_bf16.hpp); both
// take `rounded` when the caller has prepared x once for all its row ranges. With w.input set
// (model_options::quantize_activations) the input is rounded as the official inference does
// (act_quant.hpp); other cases use the float kernels on the rounded values (the same
// products, summed in another order).
inline void linear_rows(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n0, size_t n1, float* y,
                        size_t ldy, float* scratch, const rounded_row* rounded = nullptr) {
    if (M == 0 || n0 >= n1) return;
    if (M == 1 && bf16dot_gemv_available(w)) {
        if (rounded != nullptr && rounded->x == x && rounded->serves(w)) {
            gemv_bf16dot(*rounded, w, n0, n1, y);
        } else {
            thread_local rounded_row local;
            const linear_weight* const just_w[] = {&w};
            prepare_for_bf16dot(local, x, just_w);
            gemv_bf16dot(local, w, n0, n1, y);
        }
        return;
    }
    if (M > detail::max_gemv_rows && bf16dot_gemm_available(w)) {
        if (rounded != nullptr && rounded->x == x && ldx == w.in && rounded->serves(w, M))
            linear_rows_bf16_dot(rounded->pairs, w, n0, n1, y, ldy);
        else
            linear_rows_bf16_dot(x, ldx, M, w, n0, n1, y, ldy);
        return;
    }
    if (w.input != input_rounding::none) {
        thread_local std::vector<float> rounded_x;
        rounded_x.resize(M * w.in);
        for (size_t m = 0; m < M; ++m) fake_round_row(w.input, x + m * ldx, w.in, rounded_x.data() + m * w.in);
        linear_weight as_float = w;
        as_float.input = input_rounding::none;
        linear_rows(rounded_x.data(), w.in, M, as_float, n0, n1, y, ldy, scratch);
        return;
    }
    if (M > detail::max_gemv_rows) {
        detail::gemm_rows(x, ldx, M, w, n0, n1, y, ldy);
        return;
    }
#if defined(__AVX512F__)
    (void)scratch;
    switch (M) {
        case 1: detail::gemv_dispatch<1>(x, ldx, w, n0, n1, y, ldy); return;
        case 2: detail::gemv_dispatch<2>(x, ldx, w, n0, n1, y, ldy); return;
        case 3: detail::gemv_dispatch<3>(x, ldx, w, n0, n1, y, ldy); return;
        default: detail::gemv_dispatch<4>(x, ldx, w, n0, n1, y, ldy); return;
    }
#else
    for (size_t n = n0; n < n1; ++n) detail::gemv_row_generic(x, ldx, M, w, n, y + (n - n0), ldy, scratch);
#endif
}

// Plain scalar reference (double accumulation): the oracle of the kernel tests.
inline void linear_reference(const float* x, size_t M, const linear_weight& w, float* y) {
    std::vector<float> row(w.in);
    for (size_t n = 0; n < w.out; ++n) {
        for (size_t k = 0; k < w.in; ++k) {
            // independent scalar decode (not the SIMD path)
            switch (w.format) {
                case weight_format::f32: row[k] = static_cast<const float*>(w.data)[n * w.in + k]; break;
                case weight_format::bf16: row[k] = decode_bf16(static_cast<const uint16_t*>(w.data)[n * w.in + k]); break;
                case weight_format::fp8_e4m3:
                    row[k] = decode_fp8_e4m3(static_cast<const uint8_t*>(w.data)[n * w.in + k]) *
                             decode_e8m0(w.scale[(n / 128) * w.scale_cols + k / 128]);
                    break;
                case weight_format::fp4_e2m1:
                    row[k] = decode_fp4_e2m1(fp4_code_at(static_cast<const uint8_t*>(w.data) + n * (w.in / 2), k)) *
                             decode_e8m0(w.scale[n * w.scale_cols + k / 32]);
                    break;
            }
        }
        for (size_t m = 0; m < M; ++m) {
            double s = 0;
            for (size_t k = 0; k < w.in; ++k) s += double(x[m * w.in + k]) * double(row[k]);
            y[m * w.out + n] = float(s);
        }
    }
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
