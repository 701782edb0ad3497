// dsv4/kernels/act_quant.hpp — the official inference's rounding of activations before a product.
//
// Before every product with FP8 or FP4 weights the official inference quantises each input
// row in blocks of 128 along K ("act_quant", docs/spec/ARCHITECTURE.md §2.4):
//   amax = max|x| over the block, floored at 1e-4
//   s    = 2^ceil(log2(amax · fp32(1/448)))       (a power of two, stored as e8m0)
//   q    = e4m3(clamp(x / s, -448, 448))          (round to nearest, ties to even)
// and the product sums q · w per K tile, scaled by s · s_w. Products with BF16 weights take
// bf16 activations (the official model computes in bf16). dsv4 applies these roundings only
// when a model is opened with model_options::quantize_activations; by default activations
// stay f32 (the float math the golden data holds).
//
// Every e4m3 value is exactly a bf16 (zero or normal), so q is kept as bf16 bit patterns:
// the AVX512-BF16 dot-product kernels (gemv_bf16dot.hpp) then multiply q by weights exactly.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>

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

// x = hi + mid + lo, each a bf16: the top 8 significant bits (truncated), the next 8, and the
// rest, which fits a bf16 too since an f32 has 24. The bf16 dot-product GEMVs multiply the
// three parts by bf16-exact weights, so every product is exact. Exact for |x| >= 2^-103
// (below, lo is an f32 subnormal, which vdpbf16ps flushes anyway); ±inf and NaN go whole
// into hi (NaN stays NaN) with mid = lo = 0.
inline void split_bf16x3(float x, uint16_t& hi, uint16_t& mid, uint16_t& lo) noexcept {
    const uint32_t b = std::bit_cast<uint32_t>(x);
    if ((b & 0x7F800000u) == 0x7F800000u) {
        hi = uint16_t((b >> 16) | ((b & 0x007FFFFFu) != 0 ? 0x0040u : 0u));
        mid = lo = 0;
        return;
    }
    const float r = x - std::bit_cast<float>(b & 0xFFFF0000u);
    const uint32_t rb = std::bit_cast<uint32_t>(r);
    hi = uint16_t(b >> 16);
    mid = uint16_t(rb >> 16);
    lo = uint16_t(std::bit_cast<uint32_t>(r - std::bit_cast<float>(rb & 0xFFFF0000u)) >> 16);
}

// parts: [3][K] (hi, mid, lo rows).
inline void split_row_bf16x3(const float* x, size_t K, uint16_t* parts) noexcept {
    uint16_t* hi = parts;
    uint16_t* mid = parts + K;
    uint16_t* lo = parts + 2 * K;
    size_t k = 0;
#if defined(__AVX512F__)
    const __m512i top = _mm512_set1_epi32(int(0xFFFF0000u)), exponent = _mm512_set1_epi32(0x7F800000);
    for (; k + 16 <= K; k += 16) {
        const __m512 v = _mm512_loadu_ps(x + k);
        const __m512i b = _mm512_castps_si512(v);
        if (_mm512_cmpeq_epi32_mask(_mm512_and_si512(b, exponent), exponent) != 0) {  // ±inf/NaN: this block scalar
            for (size_t j = k; j < k + 16; ++j) split_bf16x3(x[j], hi[j], mid[j], lo[j]);
            continue;
        }
        const __m512 r = _mm512_sub_ps(v, _mm512_castsi512_ps(_mm512_and_si512(b, top)));
        const __m512i rb = _mm512_castps_si512(r);
        const __m512 l = _mm512_sub_ps(r, _mm512_castsi512_ps(_mm512_and_si512(rb, top)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi + k), _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(mid + k), _mm512_cvtepi32_epi16(_mm512_srli_epi32(rb, 16)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo + k),
                            _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(l), 16)));
    }
#endif
    for (; k < K; ++k) split_bf16x3(x[k], hi[k], mid[k], lo[k]);
}

// The FP4 kernel's order of a row (K % 128 == 0): per 128-group, part r (0..3) holds elements
// 4i + r, i = 0..31 (see gemv_bf16dot.hpp).
inline void to_fp4_order(const uint16_t* in, size_t K, uint16_t* out) noexcept {
    size_t g = 0;
#if defined(__AVX512BW__)
    // word j of part r is word (4j + r) mod 64 of words 0..63 (j < 16) or of 64..127 (j >= 16)
    __m512i index[4];
    for (int r = 0; r < 4; ++r) {
        alignas(64) uint16_t idx[32];
        for (int j = 0; j < 32; ++j) idx[j] = uint16_t((4 * j + r) % 64);
        index[r] = _mm512_load_si512(idx);
    }
    for (; g + 128 <= K; g += 128) {
        const __m512i a0 = _mm512_loadu_si512(in + g), a1 = _mm512_loadu_si512(in + g + 32);
        const __m512i a2 = _mm512_loadu_si512(in + g + 64), a3 = _mm512_loadu_si512(in + g + 96);
        for (int r = 0; r < 4; ++r)
            _mm512_storeu_si512(out + g + 32 * size_t(r),
                                _mm512_mask_blend_epi16(__mmask32(0xFFFF0000u), _mm512_permutex2var_epi16(a0, index[r], a1),
                                                        _mm512_permutex2var_epi16(a2, index[r], a3)));
    }
#endif
    for (; g + 128 <= K; g += 128)
        for (size_t r = 0; r < 4; ++r)
            for (size_t i = 0; i < 32; ++i) out[g + 32 * r + i] = in[g + 4 * i + r];
}

// Activation rows as bf16 pairs: data[m * pairs + p] = bf16(x[m, 2p]) | bf16(x[m, 2p+1]) << 16
// (round to nearest even, as encode_bf16), packed once and shared by every row range.
struct bf16_activations {
    std::vector<uint32_t> data;
    size_t M = 0, K = 0, pairs = 0;
};

// Sizes out for M rows of K (zeroed: an odd K's last high half stays 0).
inline void size_bf16_activations(size_t M, size_t K, bf16_activations& out) {
    out.M = M;
    out.K = K;
    out.pairs = (K + 1) / 2;
    out.data.assign(M * out.pairs, 0);
}

// Packs rows [m0, m1) of x into a sized `out` (row ranges may be packed by different threads).
inline void pack_bf16_rows(const float* x, size_t ldx, size_t m0, size_t m1, bf16_activations& out) noexcept {
    const size_t K = out.K;
    auto* words = reinterpret_cast<uint16_t*>(out.data.data());  // little endian: word 2p is the low half
    for (size_t m = m0; m < m1; ++m) {
        const float* xm = x + m * ldx;
        uint16_t* wm = words + m * 2 * out.pairs;
        size_t k = 0;
#if defined(__AVX512F__)
        // encode_bf16 on 16 lanes: round to nearest even in integer arithmetic, NaN made quiet
        for (; k + 16 <= K; k += 16) {
            const __m512i u = _mm512_loadu_si512(xm + k);
            const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
            const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), odd)), 16);
            const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
            const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                                          _mm512_set1_epi32(0x7F800000));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(wm + k), _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet)));
        }
#endif
        for (; k < K; ++k) {
            const uint16_t v = encode_bf16(xm[k]);
            std::memcpy(wm + k, &v, sizeof v);  // into uint32_t storage: no uint16_t lvalue
        }
    }
}

inline void pack_bf16_activations(const float* x, size_t ldx, size_t M, size_t K, bf16_activations& out) {
    size_bf16_activations(M, K, out);
    pack_bf16_rows(x, ldx, 0, M, out);
}

// Activation rows prepared once for every product that reads them on the bf16 dot-product
// kernels, so rows split over threads are prepared once: one decode row (M = 1) for the GEMVs
// (gemv_bf16dot.hpp, prepare), or prefill rows (M > 4) rounded to bf16 for the GEMM of BF16
// weights (linear_bf16.hpp, prepare_bf16_pairs).
struct rounded_row {
    // 64-byte aligned: the kernels load whole cache lines of these (a line-crossing load costs two)
    using words = std::vector<uint16_t, xsimd::aligned_allocator<uint16_t, 64>>;
    const float* x = nullptr;
    size_t K = 0;
    words q;          // fp8_blocks: bf16 bits of e4m3(x / s), natural order
    words q_fp4;      // the same in the FP4 kernel's order (K % 128 == 0)
    std::vector<float> scales;        // fp8_blocks: s per 128-block
    words xb;         // bf16: bf16(x), natural order
    words split;      // no rounding: [3][K] exact bf16 parts of x (split_row_bf16x3)
    words split_fp4;  // the same, each part in the FP4 kernel's order
    bf16_activations pairs;  // prefill rows: bf16(x) packed in pairs (M = pairs.M rows)

    void clear() {
        q.clear();
        q_fp4.clear();
        xb.clear();
        split.clear();
        split_fp4.clear();
        pairs.data.clear();
        pairs.M = pairs.K = pairs.pairs = 0;
    }
    // M rows of K (row stride K) rounded to bf16 for the bf16 dot-product GEMM
    void prepare_bf16_pairs(const float* x_in, size_t M, size_t K_in) {
        clear();
        x = x_in;
        K = K_in;
        pack_bf16_activations(x, K, M, K, pairs);
    }
    // fp8 / bf16: the roundings to prepare; fp4_order: also lay rows out for FP4 weights;
    // exact: the exact split, for products that keep x in f32 (input_rounding::none)
    void prepare(const float* x_in, size_t K_in, bool fp8, bool bf16, bool fp4_order = true, bool exact = false) {
        x = x_in;
        K = K_in;
        const bool fp4_layout = fp4_order && K % 128 == 0;
        clear();
        if (fp8) {
            q.resize(K);
            scales.resize((K + act_quant_block - 1) / act_quant_block);
            quantize_row_fp8(x, K, q.data(), scales.data());
            if (fp4_layout) {
                q_fp4.resize(K);
                to_fp4_order(q.data(), K, q_fp4.data());
            }
        }
        if (bf16) {
            xb.resize(K);
            round_row_bf16(x, K, xb.data());
        }
        if (exact) {
            split.resize(3 * K);
            split_row_bf16x3(x, K, split.data());
            if (fp4_layout) {
                split_fp4.resize(3 * K);
                for (size_t p = 0; p < 3; ++p) to_fp4_order(split.data() + p * K, K, split_fp4.data() + p * K);
            }
        }
    }
    // Whether these are the prepared input of products of M rows with w: decode (M = 1, what
    // prepare laid out) or prefill rows packed by prepare_bf16_pairs.
    bool serves(const linear_weight& w, size_t M = 1) const {
        if (K != w.in) return false;
        if (M != 1) return w.input == input_rounding::bf16 && pairs.M == M && pairs.K == K;
        const bool fp4 = w.format == weight_format::fp4_e2m1;
        switch (w.input) {
            case input_rounding::fp8_blocks: return (fp4 ? q_fp4.size() : q.size()) == K;
            case input_rounding::bf16: return xb.size() == K;
            case input_rounding::none: return (fp4 ? split_fp4.size() : split.size()) == 3 * K;
        }
        return false;
    }
};

}  // namespace dsv4::kernels

DSV4_INTRINSICS_END
