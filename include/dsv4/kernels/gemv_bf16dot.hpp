// dsv4/kernels/gemv_bf16dot.hpp — decode GEMVs (M = 1) on AVX512-BF16 dot products.
//
//   in: a rounded_row (act_quant.hpp) prepared from the input row x[K]; W: [N, K] stored;
//   y[n - n0] = Σ_k x[k] · W[n, k] for n in [n0, n1), x as the weight's input rounding asks:
//    * none (the default, float math; FP8 and FP4 weights): x split exactly into three bf16
//      parts (x = hi + mid + lo, rounded_row::split), each multiplied by the weights: every
//      product exact, f32 sums — the float kernels' numerics, summed in another order;
//    * fp8_blocks (quantize_activations): e4m3 activations q with a scale per 128-block;
//    * bf16 (quantize_activations): bf16(x).
//
// Every e4m3 and e2m1 value is exactly a bf16 (zero, or normal), so weights widen to bf16
// exactly and vdpbf16ps multiplies 32 of them per instruction, twice an f32 FMA's 16, with
// f32 accumulation. The weight decode is what bounds the float GEMVs of FP8/FP4 weights on a
// core; here it is cheaper per weight and shared by the parts (three parts: 1.3-1.4x the float
// kernels' rate in cache, one part: about 1.7x). Partial sums are of unscaled codes (FP8 up to
// 448) times x, scaled per block afterwards, as in the float kernels:
//  * FP8: two 128-entry byte tables (vpermi2b) give a code's bf16 high and low bytes, the
//    code's sign bit is or-ed into the high byte, and one byte interleave per 32 codes
//    builds the words. Per 128-block: partial sums scaled by s_act · s_w (the reference's
//    per-tile scaling).
//  * FP4: vpermw reads the low 5 bits of each 16-bit index, so with a 32-entry word table
//    (the 16 codes' bf16 values twice) a word of packed codes shifted right by 4r looks up
//    its element 4i+r with no masking. 64 bytes (128 weights) give four word vectors of
//    elements 4i+r (r = 0..3), which rounded_row's FP4-order copies match; f32 lanes
//    4b..4b+3 then hold block b's products, so one per-lane scale vector applies the 1x32
//    weight scales.
//  * BF16 (rounded input only): the weights are bf16 already, the activations bf16(x).
// vdpbf16ps treats subnormal inputs and results as zero (it ignores MXCSR): bf16 values below
// 2^-126 count as 0 (e4m3/e2m1 weights never are one; an activation part or product that
// small is below anything the f32 sums keep beside a normal-sized term).
// Each output is one fixed-order reduction (bit-identical for any split of [n0, n1)).
// Needs AVX512-BF16 and AVX512-VBMI; bf16dot_gemv_available() says whether this build
// has them; linear_rows uses the float kernels otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

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

#if defined(__AVX512BF16__) && defined(__AVX512VBMI__) && defined(__AVX512BW__)
#define DSV4_BF16DOT_GEMV 1
#endif

// Whether decode rows (M = 1) of this weight take these kernels (else: the float kernels,
// on the rounded input when w.input asks for rounding).
inline bool bf16dot_gemv_available(const linear_weight& w) noexcept {
#if defined(DSV4_BF16DOT_GEMV)
    switch (w.input) {
        // (with f32 input, BF16 weights keep the float kernel: it already streams at the read
        // bandwidth, and the three-part split ran slower from DRAM, 19-32 against 34 GB/s per core)
        case input_rounding::none:
        case input_rounding::fp8_blocks:
            return (w.format == weight_format::fp8_e4m3 || w.format == weight_format::fp4_e2m1) && w.in % 128 == 0;
        case input_rounding::bf16: return w.format == weight_format::bf16 && w.in % 32 == 0;
    }
#else
    (void)w;
#endif
    return false;
}

// Prepares x (one row of K = their common width) once for every product among `ws` that takes
// these kernels: the roundings their inputs ask for, the exact split for f32 input, FP4
// layouts if an FP4 weight is among them. False, with `row` untouched, when none does or
// their widths differ.
inline bool prepare_for_bf16dot(rounded_row& row, const float* x, std::span<const linear_weight* const> ws) {
    bool fp8 = false, bf16 = false, fp4 = false, exact = false;
    size_t K = 0;
    for (const auto* w : ws) {
        if (w->empty() || !bf16dot_gemv_available(*w)) continue;
        if (K != 0 && w->in != K) return false;
        K = w->in;
        fp8 |= w->input == input_rounding::fp8_blocks;
        bf16 |= w->input == input_rounding::bf16;
        exact |= w->input == input_rounding::none;
        fp4 |= w->format == weight_format::fp4_e2m1;
    }
    if (K == 0) return false;
    row.prepare(x, K, fp8, bf16, fp4, exact);
    return true;
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

#if defined(DSV4_BF16DOT_GEMV)
// (a value cast: a reference cast made GCC keep the operands in memory and reload them)
inline __m512 dot_bf16(__m512 acc, __m512i a, __m512i b) noexcept {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
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

// The activation row as the kernels below read it: P bf16 parts whose sum is the input
// (P = 1: e4m3 activations, each 128-block scaled by act_scales; P = 3: an f32 row split
// exactly, rounded_row::split, no scales).
template <size_t P>
struct bf16_parts {
    const uint16_t* part[P];
    const float* act_scales;  // per 128-block, or null for 1
    float act_scale(size_t kb) const noexcept { return act_scales != nullptr ? act_scales[kb / 128] : 1.0f; }
};

// Rows [n, n + R) of an FP8 weight: per 128-block, each half (64 codes, two bf16 weight
// vectors a, b) meets every part, a on chain 0 and b on chain 1, parts in order; the block's
// sum is scaled by s_act · s_w. Every row's operations and their order are the same for any
// R, so a row's bits do not depend on how rows are grouped (and so on the thread split).
template <size_t R, size_t P>
inline void fp8_rows(const fp8_bf16_tables& t, const bf16_parts<P>& x, const linear_weight& w, size_t n, size_t ahead,
                     float* y) noexcept {
    const size_t K = w.in;
    const uint8_t* row[R];
    const uint8_t* srow[R];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) {
        row[r] = static_cast<const uint8_t*>(w.data) + (n + r) * K;
        srow[r] = w.scale + ((n + r) / 128) * w.scale_cols;
    }
    __m512 acc[R];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t kb = 0; kb < K; kb += 128) {
        __m512 p[R][2];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) p[r][0] = p[r][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
        for (size_t half = 0; half < 128; half += 64) {
            __m512i wa[R], wb[R];
#pragma GCC unroll 4
            for (size_t r = 0; r < R; ++r) {
                prefetch_at(row[r] + kb + half, ahead);
                fp8x64_to_bf16(t, _mm512_loadu_si512(row[r] + kb + half), wa[r], wb[r]);
            }
#pragma GCC unroll 3
            for (size_t s = 0; s < P; ++s) {
                const __m512i xa = _mm512_loadu_si512(x.part[s] + kb + half);
                const __m512i xb = _mm512_loadu_si512(x.part[s] + kb + half + 32);
#pragma GCC unroll 4
                for (size_t r = 0; r < R; ++r) {
                    p[r][0] = dot_bf16(p[r][0], wa[r], xa);
                    p[r][1] = dot_bf16(p[r][1], wb[r], xb);
                }
            }
        }
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
            const float s = x.act_scale(kb) * decode_e8m0(srow[r][kb / 128]);
            acc[r] = _mm512_fmadd_ps(_mm512_add_ps(p[r][0], p[r][1]), _mm512_set1_ps(s), acc[r]);
        }
    }
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) y[r] = hsum(acc[r]);
}

template <size_t P>
inline void gemv_fp8_parts(const bf16_parts<P>& x, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    const fp8_bf16_tables t;
    // long rows look ahead within the row (8 KB ahead would be the next row, which the
    // group's next chain is reading anyway), as the float kernel does
    const size_t ahead = w.in >= 2 * gemv_prefetch_in_row ? gemv_prefetch_in_row : gemv_prefetch_distance;
    size_t n = n0;
    // four rows per step share each activation load and give eight independent chains
    for (; n + 4 <= n1; n += 4) fp8_rows<4>(t, x, w, n, ahead, y + (n - n0));
    for (; n < n1; ++n) fp8_rows<1>(t, x, w, n, ahead, y + (n - n0));
}

// Rows [n, n + R) of an FP4 weight: per 128-weight group, 64 packed bytes give four word
// vectors (word i of vector j: element 4i + j, the order of the parts), vectors 0, 2 on chain
// 0 and 1, 3 on chain 1 for every part in order; f32 lanes 4b..4b+3 hold 32-block b's
// products, scaled per lane. Operations per row do not depend on R (see fp8_rows).
template <size_t R, size_t P>
inline void fp4_rows(__m512i table, const bf16_parts<P>& x, const linear_weight& w, size_t n, float* y) noexcept {
    const size_t K = w.in;
    const uint8_t* src[R];
    const uint8_t* srow[R];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) {
        src[r] = static_cast<const uint8_t*>(w.data) + (n + r) * (K / 2);
        srow[r] = w.scale + (n + r) * w.scale_cols;
    }
    __m512 acc[R];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t g = 0; g < K; g += 128) {
        __m512i wv[R][4];
        __m512 p[R][2];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
            prefetch_ahead(src[r] + g / 2);
            const __m512i v = _mm512_loadu_si512(src[r] + g / 2);
            wv[r][0] = _mm512_permutexvar_epi16(v, table);
            wv[r][1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
            wv[r][2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
            wv[r][3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
            p[r][0] = p[r][1] = _mm512_setzero_ps();
        }
#pragma GCC unroll 3
        for (size_t s = 0; s < P; ++s)
#pragma GCC unroll 4
            for (size_t j = 0; j < 4; ++j) {
                const __m512i xv = _mm512_loadu_si512(x.part[s] + g + 32 * j);
#pragma GCC unroll 4
                for (size_t r = 0; r < R; ++r) p[r][j & 1] = dot_bf16(p[r][j & 1], wv[r][j], xv);
            }
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
            __m512 sv = fp4_group_scales(srow[r] + g / 32);
            if (x.act_scales != nullptr) sv = _mm512_mul_ps(sv, _mm512_set1_ps(x.act_scale(g)));
            acc[r] = _mm512_fmadd_ps(_mm512_add_ps(p[r][0], p[r][1]), sv, acc[r]);
        }
    }
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) y[r] = hsum(acc[r]);
}

template <size_t P>
inline void gemv_fp4_parts(const bf16_parts<P>& x, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    const __m512i table = _mm512_loadu_si512(fp4_bf16_words.data());
    size_t n = n0;
    for (; n + 4 <= n1; n += 4) fp4_rows<4>(table, x, w, n, y + (n - n0));
    for (; n < n1; ++n) fp4_rows<1>(table, x, w, n, y + (n - n0));
}

// One row of a BF16 weight against bf16(x) (K % 32 == 0), on chain (k / 32) mod 2. Rows go
// one at a time: the weight streams as one sequence, which the hardware prefetcher follows
// best (four interleaved rows ran at 0.75 of the read bandwidth from DRAM, one row at 0.95),
// and the kernel has arithmetic to spare.
inline float bf16_row(const uint16_t* xb, const uint16_t* src, size_t K) noexcept {
    __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 64 <= K; k += 64) {
        prefetch_ahead(src + k);  // both cache lines of the step
        prefetch_ahead(src + k + 32);
        even = dot_bf16(even, _mm512_loadu_si512(src + k), _mm512_loadu_si512(xb + k));
        odd = dot_bf16(odd, _mm512_loadu_si512(src + k + 32), _mm512_loadu_si512(xb + k + 32));
    }
    if (k < K) even = dot_bf16(even, _mm512_loadu_si512(src + k), _mm512_loadu_si512(xb + k));
    return hsum(_mm512_add_ps(even, odd));
}

inline void gemv_bf16_rounded(const uint16_t* xb, const linear_weight& w, size_t n0, size_t n1, float* y) noexcept {
    for (size_t n = n0; n < n1; ++n) y[n - n0] = bf16_row(xb, static_cast<const uint16_t*>(w.data) + n * w.in, w.in);
}
#endif

}  // namespace detail

// y[n - n0] = input · W[n] for n in [n0, n1), the input as prepared in `in` for w (rounded,
// or split exactly when w.input is none). A row prepared for another width would be read past
// its end, so the precondition (bf16dot_gemv_available(w) and in.serves(w)) is checked in
// every build, once per row range.
inline void gemv_bf16dot(const rounded_row& in, const linear_weight& w, size_t n0, size_t n1, float* y) {
    DSV4_CHECK(bf16dot_gemv_available(w) && in.serves(w), "gemv_bf16dot: the prepared row (", in.K,
               " columns) does not serve this ", to_string(w.format), " weight of ", w.in, " columns");
#if defined(DSV4_BF16DOT_GEMV)
    const bool fp4 = w.format == weight_format::fp4_e2m1;
    if (w.input == input_rounding::none) {
        const uint16_t* parts = (fp4 ? in.split_fp4 : in.split).data();
        const detail::bf16_parts<3> x{{parts, parts + in.K, parts + 2 * in.K}, nullptr};
        if (fp4)
            detail::gemv_fp4_parts(x, w, n0, n1, y);
        else
            detail::gemv_fp8_parts(x, w, n0, n1, y);
        return;
    }
    switch (w.format) {
        case weight_format::fp8_e4m3: detail::gemv_fp8_parts(detail::bf16_parts<1>{{in.q.data()}, in.scales.data()}, w, n0, n1, y); return;
        case weight_format::fp4_e2m1: detail::gemv_fp4_parts(detail::bf16_parts<1>{{in.q_fp4.data()}, in.scales.data()}, w, n0, n1, y); return;
        case weight_format::bf16: detail::gemv_bf16_rounded(in.xb.data(), w, n0, n1, y); return;
        case weight_format::f32: return;
    }
#else
    (void)in, (void)w, (void)n0, (void)n1, (void)y;
#endif
}

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
