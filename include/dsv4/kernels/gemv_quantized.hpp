// dsv4/kernels/gemv_quantized.hpp — decode GEMVs (M = 1) on rounded activations (act_quant.hpp).
//
//   in: a rounded_row (q: bf16 bits of the e4m3 activations + one scale per 128-block, or
//       bf16(x)), W: [N, K] stored; y[n - n0] = Σ_k q[k] · W[n, k] · scales, for n in [n0, n1)
//
// With activations rounded, weights can be widened to bf16 exactly (every e4m3 and e2m1
// value is a normal bf16) and multiplied by vdpbf16ps: 32 exact products per instruction,
// twice an f32 FMA's 16, with f32 accumulation. That halves the arithmetic per weight byte,
// which is what bounds the float GEMVs of FP8/FP4 weights on a core:
//  * FP8: two 128-entry byte tables (vpermi2b) give a code's bf16 high and low bytes, the
//    code's sign bit is or-ed into the high byte, and one byte interleave per 32 codes
//    builds the words. Per 128-block: partial sums scaled by s_act · s_w (the reference's
//    per-tile scaling).
//  * FP4: vpermw reads the low 5 bits of each 16-bit index, so with a 32-entry word table
//    (the 16 codes' bf16 values twice) a word of packed codes shifted right by 4r looks up
//    its element 4i+r with no masking. 64 bytes (128 weights) give four word vectors of
//    elements 4i+r (r = 0..3), which rounded_row::q_fp4 matches; f32 lanes 4b..4b+3 then
//    hold block b's products, so one per-lane scale vector applies the 1x32 weight scales.
//  * BF16: weights are already bf16; activations are bf16(x). vdpbf16ps treats subnormal
//    inputs and results as zero (it ignores MXCSR), so bf16 values below 2^-126 count as 0
//    here (the FP8/FP4 paths never meet one: e4m3/e2m1 values, scaled, are normal).
// Each output is one fixed-order reduction (bit-identical for any split of [n0, n1)).
// Needs AVX512-BF16 and AVX512-VBMI; quantized_gemv_available() says whether this build
// has them, and linear_rows falls back to the same rounding on the float kernels otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/kernels/act_quant.hpp>
#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/linear_weight.hpp>
#include <dsv4/tensor/number_formats.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

#if defined(__AVX512BF16__) && defined(__AVX512VBMI__) && defined(__AVX512BW__)
#define DSV4_QUANTIZED_GEMV 1
#endif

// Whether rows of this weight can take the quantised GEMV (else: float kernels on the rounded input).
inline bool quantized_gemv_available(const linear_weight& w) noexcept {
#if defined(DSV4_QUANTIZED_GEMV)
    switch (w.input) {
        case input_rounding::fp8_blocks:
            return (w.format == weight_format::fp8_e4m3 || w.format == weight_format::fp4_e2m1) && w.in % 128 == 0;
        case input_rounding::bf16: return w.format == weight_format::bf16 && w.in % 32 == 0;
        case input_rounding::none: return false;
    }
#else
    (void)w;
#endif
    return false;
}

namespace detail {

// bf16 bits of the e4m3 magnitudes 0..127, split into high and low bytes (tables for vpermi2b).
inline constexpr std::array<uint8_t, 128> fp8_bf16_high = [] {
    std::array<uint8_t, 128> t{};
    for (size_t c = 0; c < 128; ++c) t[c] = uint8_t(encode_bf16(fp8_e4m3_table[c]) >> 8);
    return t;
}();
inline constexpr std::array<uint8_t, 128> fp8_bf16_low = [] {
    std::array<uint8_t, 128> t{};
    for (size_t c = 0; c < 128; ++c) t[c] = uint8_t(encode_bf16(fp8_e4m3_table[c]) & 0xFF);
    return t;
}();
// bf16 bits of each e2m1 code, twice (vpermw indexes 32 words by the low 5 bits).
inline constexpr std::array<uint16_t, 32> fp4_bf16_words = [] {
    std::array<uint16_t, 32> t{};
    for (size_t c = 0; c < 32; ++c) t[c] = encode_bf16(fp4_e2m1_table[c & 15]);
    return t;
}();

#if defined(DSV4_QUANTIZED_GEMV)
inline __m512 dot_bf16(__m512 acc, __m512i a, __m512i b) noexcept {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(a), reinterpret_cast<__m512bh&>(b));
}

struct fp8_bf16_tables {
    __m512i hi0, hi1, lo0, lo1, interleave_a, interleave_b;
    fp8_bf16_tables() noexcept {
        hi0 = _mm512_loadu_si512(fp8_bf16_high.data());
        hi1 = _mm512_loadu_si512(fp8_bf16_high.data() + 64);
        lo0 = _mm512_loadu_si512(fp8_bf16_low.data());
        lo1 = _mm512_loadu_si512(fp8_bf16_low.data() + 64);
        // word i of A = (low[i], high[i]) for codes 0..31; B the same for codes 32..63
        alignas(64) uint8_t ia[64], ib[64];
        for (int i = 0; i < 32; ++i) {
            ia[2 * i] = uint8_t(i);
            ia[2 * i + 1] = uint8_t(64 + i);
            ib[2 * i] = uint8_t(32 + i);
            ib[2 * i + 1] = uint8_t(96 + i);
        }
        interleave_a = _mm512_load_si512(ia);
        interleave_b = _mm512_load_si512(ib);
    }
};

// 64 FP8 codes -> 64 bf16 words (two vectors, natural order).
inline void fp8x64_to_bf16(const fp8_bf16_tables& t, __m512i codes, __m512i& a, __m512i& b) noexcept {
    const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t.hi0, codes, t.hi1), codes,
                                                 _mm512_set1_epi8(char(0x80)), 0xF8);  // hi | (codes & 0x80)
    const __m512i lo = _mm512_permutex2var_epi8(t.lo0, codes, t.lo1);
    a = _mm512_permutex2var_epi8(lo, t.interleave_a, hi);
    b = _mm512_permutex2var_epi8(lo, t.interleave_b, hi);
}

// One FP8 row's 128-block: Σ q·w over the block (exact products, f32 sums), as two partials.
inline __m512 fp8_block(const fp8_bf16_tables& t, const uint8_t* w, const uint16_t* q) noexcept {
    __m512i a0, b0, a1, b1;
    fp8x64_to_bf16(t, _mm512_loadu_si512(w), a0, b0);
    fp8x64_to_bf16(t, _mm512_loadu_si512(w + 64), a1, b1);
    __m512 p0 = dot_bf16(_mm512_setzero_ps(), a0, _mm512_loadu_si512(q));
    __m512 p1 = dot_bf16(_mm512_setzero_ps(), a1, _mm512_loadu_si512(q + 64));
    p0 = dot_bf16(p0, b0, _mm512_loadu_si512(q + 32));
    p1 = dot_bf16(p1, b1, _mm512_loadu_si512(q + 96));
    return _mm512_add_ps(p0, p1);
}

inline void gemv_fp8_quantized(const rounded_row& in, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    const fp8_bf16_tables t;
    const size_t K = w.in;
    const auto* data = static_cast<const uint8_t*>(w.data);
    size_t n = n0;
    // long rows look ahead within the row (8 KB ahead would be the next row, which the
    // group's next chain is reading anyway), as the float kernel does
    const size_t ahead = K >= 2 * gemv_prefetch_in_row ? gemv_prefetch_in_row : gemv_prefetch_distance;
    // four rows per step: independent chains for the dot-product latency; each row's
    // operations are those of the one-row loop below, in the same order
    for (; n + 4 <= n1; n += 4) {
        __m512 acc[4];
        for (size_t r = 0; r < 4; ++r) acc[r] = _mm512_setzero_ps();
        for (size_t kb = 0; kb < K; kb += 128) {
#pragma GCC unroll 4
            for (size_t r = 0; r < 4; ++r) {
                const uint8_t* row = data + (n + r) * K;
                prefetch_at(row + kb, ahead);
                prefetch_at(row + kb + 64, ahead);
                const float s = in.scales[kb / 128] * decode_e8m0(w.scale[((n + r) / 128) * w.scale_cols + kb / 128]);
                acc[r] = _mm512_fmadd_ps(fp8_block(t, row + kb, in.q.data() + kb), _mm512_set1_ps(s), acc[r]);
            }
        }
        for (size_t r = 0; r < 4; ++r) y[n + r - n0] = hsum(acc[r]);
    }
    for (; n < n1; ++n) {
        const uint8_t* row = data + n * K;
        __m512 acc = _mm512_setzero_ps();
        for (size_t kb = 0; kb < K; kb += 128) {
            prefetch_at(row + kb, ahead);
            prefetch_at(row + kb + 64, ahead);
            const float s = in.scales[kb / 128] * decode_e8m0(w.scale[(n / 128) * w.scale_cols + kb / 128]);
            acc = _mm512_fmadd_ps(fp8_block(t, row + kb, in.q.data() + kb), _mm512_set1_ps(s), acc);
        }
        y[n - n0] = hsum(acc);
    }
}

inline void gemv_fp4_quantized(const rounded_row& in, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    const size_t K = w.in;
    const __m512i table = _mm512_loadu_si512(fp4_bf16_words.data());
    const uint16_t* q = in.q_fp4.data();
    for (size_t n = n0; n < n1; ++n) {
        const auto* src = static_cast<const uint8_t*>(w.data) + n * (K / 2);
        const uint8_t* srow = w.scale + n * w.scale_cols;
        __m512 acc = _mm512_setzero_ps();
        for (size_t g = 0; g < K; g += 128) {
            prefetch_ahead(src + g / 2);
            const __m512i v = _mm512_loadu_si512(src + g / 2);
            // word i of part r: element 4i + r
            __m512 p0 = dot_bf16(_mm512_setzero_ps(), _mm512_permutexvar_epi16(v, table), _mm512_loadu_si512(q + g));
            __m512 p1 = dot_bf16(_mm512_setzero_ps(), _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table),
                                 _mm512_loadu_si512(q + g + 32));
            p0 = dot_bf16(p0, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table), _mm512_loadu_si512(q + g + 64));
            p1 = dot_bf16(p1, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table), _mm512_loadu_si512(q + g + 96));
            const __m512 sv = fp4_group_scales(srow + g / 32);
            acc = _mm512_fmadd_ps(_mm512_add_ps(p0, p1), _mm512_mul_ps(sv, _mm512_set1_ps(in.scales[g / 128])), acc);
        }
        y[n - n0] = hsum(acc);
    }
}

inline void gemv_bf16_quantized(const rounded_row& in, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    const size_t K = w.in;
    const uint16_t* xb = in.xb.data();
    for (size_t n = n0; n < n1; ++n) {
        const auto* src = static_cast<const uint16_t*>(w.data) + n * K;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma GCC unroll 4
        for (size_t k = 0; k < K; k += 32) {
            prefetch_ahead(src + k);
            acc[(k / 32) & 3] = dot_bf16(acc[(k / 32) & 3], _mm512_loadu_si512(src + k), _mm512_loadu_si512(xb + k));
        }
        y[n - n0] = hsum(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    }
}
#endif

}  // namespace detail

// y[n - n0] = rounded input · W[n] for n in [n0, n1); requires quantized_gemv_available(w)
// and in.serves(w).
inline void gemv_quantized(const rounded_row& in, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
#if defined(DSV4_QUANTIZED_GEMV)
    switch (w.format) {
        case weight_format::fp8_e4m3: detail::gemv_fp8_quantized(in, w, n0, n1, y); return;
        case weight_format::fp4_e2m1: detail::gemv_fp4_quantized(in, w, n0, n1, y); return;
        case weight_format::bf16: detail::gemv_bf16_quantized(in, w, n0, n1, y); return;
        case weight_format::f32: return;
    }
#else
    (void)in, (void)w, (void)n0, (void)n1, (void)y;
#endif
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
