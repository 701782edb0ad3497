// dsv4/kernels/act_quant.hpp — the official inference's rounding of activations before a product.
//
// Before every product with FP8 or FP4 weights the official inference quantises each input
// row in blocks of 128 along K ("act_quant", ARCHITECTURE.md §2.4):
//   amax = max|x| over the block, floored at 1e-4
//   s    = 2^ceil(log2(amax · fp32(1/448)))       (a power of two, stored as e8m0)
//   q    = e4m3(clamp(x / s, -448, 448))          (round to nearest, ties to even)
// and the product sums q · w per K tile, scaled by s · s_w. Products with BF16 weights take
// bf16 activations (the official model computes in bf16). dsv4 applies these roundings only
// when a model is opened with model_options::quantize_activations; by default activations
// stay f32 (the float math the golden data holds).
//
// Every e4m3 value is a normal bf16, so q is kept as bf16 bit patterns: the AVX512-BF16
// dot-product kernels (gemv_quantized.hpp) then multiply q by weights exactly.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <dsv4/kernels/avx512_util.hpp>
#include <dsv4/kernels/linear_weight.hpp>
#include <dsv4/tensor/number_formats.hpp>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels {

inline constexpr size_t act_quant_block = 128;

// The block scale from the block's largest magnitude. A block holding NaN or ±inf has no
// finite scale (the reference's amax/448 would be inf or NaN): NaN, so the whole block is NaN.
inline float act_quant_scale(float amax) noexcept {
    if (!std::isfinite(amax)) return std::numeric_limits<float>::quiet_NaN();
    return decode_e8m0(e8m0_ceil_code(std::max(amax, 1e-4f) * (1.0f / fp8_e4m3_max)));
}

// y rounded to the nearest e4m3 value (ties to even), |y| clamped to 448; NaN stays NaN.
// Normal range: round the f32 mantissa to 3 bits in integer arithmetic. Below 2^-6 the
// e4m3 grid is the multiples of 2^-9: adding and removing 2^14 rounds to it in the FPU.
inline float round_to_e4m3(float y) noexcept {
    if (std::isnan(y)) return y;
    float a = std::fabs(y);
    if (a > fp8_e4m3_max) a = fp8_e4m3_max;
    float r;
    if (a < 0x1p-6f) {
        volatile float big = 0x1p14f;  // keeps the compiler from folding (a + big) - big
        r = (a + big) - big;
    } else {
        const uint32_t u = std::bit_cast<uint32_t>(a);
        r = std::bit_cast<float>((u + 0x7FFFFu + ((u >> 20) & 1u)) & 0xFFF00000u);
    }
    return std::copysign(r, y);
}

namespace detail {

#if defined(__AVX512F__)
inline __m512 round_to_e4m3_ps(__m512 y) noexcept {
    const __m512i sign_bit = _mm512_set1_epi32(int(0x80000000u));
    const __m512 a = _mm512_min_ps(_mm512_set1_ps(fp8_e4m3_max), _mm512_abs_ps(y));
    const __m512 big = _mm512_set1_ps(0x1p14f);
    const __m512 sub = _mm512_sub_ps(_mm512_add_ps(a, big), big);
    const __m512i u = _mm512_castps_si512(a);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 20), _mm512_set1_epi32(1));
    const __m512i nrm = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFFF)), odd),
                                         _mm512_set1_epi32(int(0xFFF00000u)));
    const __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0x1p-6f), _CMP_LT_OQ);
    const __m512i r = _mm512_mask_blend_epi32(small, nrm, _mm512_castps_si512(sub));
    const __m512 signed_r = _mm512_castsi512_ps(_mm512_or_si512(r, _mm512_and_si512(_mm512_castps_si512(y), sign_bit)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q), signed_r, y);  // NaN stays NaN
}

// max |x| over the block; NaN if any element is NaN (the same on every path).
inline float block_amax(const float* x, size_t n) noexcept {
    size_t k = 0;
    __m512 m = _mm512_setzero_ps();
    __mmask16 nan = 0;
    for (; k + 16 <= n; k += 16) {
        const __m512 v = _mm512_loadu_ps(x + k);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m = _mm512_max_ps(m, _mm512_abs_ps(v));
    }
    float amax = _mm512_reduce_max_ps(m);
    for (; k < n; ++k) {
        if (std::isnan(x[k])) nan = 1;
        amax = std::max(amax, std::fabs(x[k]));
    }
    return nan ? std::numeric_limits<float>::quiet_NaN() : amax;
}
#else
inline float block_amax(const float* x, size_t n) noexcept {
    float amax = 0.0f;
    for (size_t k = 0; k < n; ++k) {
        if (std::isnan(x[k])) return std::numeric_limits<float>::quiet_NaN();
        amax = std::max(amax, std::fabs(x[k]));
    }
    return amax;
}
#endif

// For each 128-block of x[0, K): emit(k, q) for every element (q = the e4m3 value of x/s),
// after set_scale(block, s).
template <class Emit, class SetScale>
inline void for_each_quantized(const float* x, size_t K, Emit&& emit, SetScale&& set_scale) {
    for (size_t b0 = 0; b0 < K; b0 += act_quant_block) {
        const size_t b1 = std::min(K, b0 + act_quant_block);
        const float s = act_quant_scale(block_amax(x + b0, b1 - b0));
        const float inv = 1.0f / s;  // exact: s is a power of two in [2^-22, 2^127]
        set_scale(b0 / act_quant_block, s);
        size_t k = b0;
#if defined(__AVX512F__)
        for (; k + 16 <= b1; k += 16) emit(k, round_to_e4m3_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), _mm512_set1_ps(inv))));
#endif
        for (; k < b1; ++k) emit(k, round_to_e4m3(x[k] * inv));
    }
}

}  // namespace detail

// act_quant of one row: q[k] = bf16 bits of e4m3(x[k] / s_b), scales[b] = s_b.
inline void quantize_row_fp8(const float* x, size_t K, uint16_t* q, float* scales) noexcept {
    detail::for_each_quantized(
        x, K,
        [&](size_t k, auto v) {
            if constexpr (std::is_same_v<decltype(v), float>) {
                q[k] = uint16_t(std::bit_cast<uint32_t>(v) >> 16);  // exact: e4m3 values have 4 significant bits
            } else {
#if defined(__AVX512F__)
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k),
                                    _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16)));
#endif
            }
        },
        [&](size_t b, float s) { scales[b] = s; });
}

// act_quant of one row as floats: out[k] = e4m3(x[k] / s_b) · s_b (the "fake quant" form,
// for the float kernels: the same products, summed in another order).
inline void fake_quantize_row_fp8(const float* x, size_t K, float* out) noexcept {
    float s = 1.0f;
    detail::for_each_quantized(
        x, K,
        [&](size_t k, auto v) {
            if constexpr (std::is_same_v<decltype(v), float>) {
                out[k] = v * s;
            } else {
#if defined(__AVX512F__)
                _mm512_storeu_ps(out + k, _mm512_mul_ps(v, _mm512_set1_ps(s)));
#endif
            }
        },
        [&](size_t, float block_scale) { s = block_scale; });
}

inline void round_row_bf16(const float* x, size_t K, uint16_t* q) noexcept {
    for (size_t k = 0; k < K; ++k) q[k] = encode_bf16(x[k]);
}

inline void fake_round_row_bf16(const float* x, size_t K, float* out) noexcept {
    for (size_t k = 0; k < K; ++k) out[k] = decode_bf16(encode_bf16(x[k]));
}

// The rounded input row as the float kernels see it.
inline void fake_round_row(input_rounding r, const float* x, size_t K, float* out) noexcept {
    switch (r) {
        case input_rounding::fp8_blocks: fake_quantize_row_fp8(x, K, out); return;
        case input_rounding::bf16: fake_round_row_bf16(x, K, out); return;
        case input_rounding::none: std::copy(x, x + K, out); return;
    }
}

// One activation row (M = 1) rounded once for every product that reads it: the quantised
// GEMV kernels take it instead of x, so a row split over threads is rounded once.
struct rounded_row {
    const float* x = nullptr;
    size_t K = 0;
    bool has_fp8 = false, has_bf16 = false;
    std::vector<uint16_t> q;       // fp8_blocks: bf16 bits of e4m3(x / s), natural order
    std::vector<uint16_t> q_fp4;   // the same in the FP4 kernel's order (K % 128 == 0, see gemv_quantized.hpp)
    std::vector<float> scales;     // fp8_blocks: s per 128-block
    std::vector<uint16_t> xb;      // bf16: bf16(x), natural order

    // fp4_order: also lay q out for FP4 weights (q_fp4)
    void prepare(const float* x_in, size_t K_in, bool fp8, bool bf16, bool fp4_order = true) {
        x = x_in;
        K = K_in;
        has_fp8 = fp8;
        has_bf16 = bf16;
        if (fp8) {
            q.resize(K);
            scales.resize((K + act_quant_block - 1) / act_quant_block);
            quantize_row_fp8(x, K, q.data(), scales.data());
            q_fp4.resize(fp4_order ? K : 0);
            if (fp4_order && K % 128 == 0)
                // FP4 kernel order: per 128-group, part r (0..3) holds elements 4i + r
                for (size_t g = 0; g < K; g += 128)
                    for (size_t r = 0; r < 4; ++r)
                        for (size_t i = 0; i < 32; ++i) q_fp4[g + 32 * r + i] = q[g + 4 * i + r];
        }
        if (bf16) {
            xb.resize(K);
            round_row_bf16(x, K, xb.data());
        }
    }
    // Whether this row is the rounded input of products with w.
    bool serves(const linear_weight& w) const {
        switch (w.input) {
            case input_rounding::fp8_blocks: return has_fp8 && K == w.in && (w.format != weight_format::fp4_e2m1 || q_fp4.size() == K);
            case input_rounding::bf16: return has_bf16 && K == w.in;
            case input_rounding::none: return true;
        }
        return false;
    }
};

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
