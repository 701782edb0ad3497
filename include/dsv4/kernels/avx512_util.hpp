// dsv4/kernels/avx512_util.hpp — small AVX-512 helpers shared by the GEMV kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <dsv4/tensor/number_formats.hpp>

// GCC 12 reports its own AVX-512 intrinsics (built on _mm512_undefined_*) as (maybe-)uninitialized:
// headers with intrinsics open with DSV4_INTRINSICS_BEGIN and close with DSV4_INTRINSICS_END.
#if defined(__GNUC__) && !defined(__clang__)
#define DSV4_INTRINSICS_BEGIN                                      \
    _Pragma("GCC diagnostic push")                                 \
    _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")    \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define DSV4_INTRINSICS_END _Pragma("GCC diagnostic pop")
#else
#define DSV4_INTRINSICS_BEGIN
#define DSV4_INTRINSICS_END
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

DSV4_INTRINSICS_BEGIN

namespace dsv4::kernels::detail {

// Horizontal sum in a fixed order.
inline float hsum(__m512 v) noexcept {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

// Decode GEMVs stream weights once from DRAM, and the hardware prefetcher alone leaves the
// cores waiting: software prefetch raised 2-thread GEMVs from 24 to 42 GB/s (bf16 head)
// and from 30 to 38 (fp8 1024x1024). Row loops touch the line this many bytes ahead; 8 KB
// measured best of 2/4/8 KB. Interleaved four-row loops over long rows (where 8 KB ahead
// would be a row another chain of the group reads anyway) look ahead within the row.
inline constexpr size_t gemv_prefetch_distance = 8192;
inline constexpr size_t gemv_prefetch_in_row = 2048;
inline void prefetch_at(const void* p, size_t ahead) noexcept {
    _mm_prefetch(static_cast<const char*>(p) + ahead, _MM_HINT_T0);
}
inline void prefetch_ahead(const void* p) noexcept { prefetch_at(p, gemv_prefetch_distance); }

// The four 1x32 e8m0 scales of a 128-weight FP4 group as a per-lane vector (lanes 4b..4b+3
// get scale b): codes 1..254 are the float bits e << 23; code 0 (2^-127, an f32 subnormal)
// and code 0xFF (NaN, which e << 23 would make +inf) take the table path.
inline __m512 fp4_group_scales(const uint8_t* scale_codes) noexcept {
    uint32_t codes;
    std::memcpy(&codes, scale_codes, 4);
    const auto has_zero_byte = [](uint32_t v) { return ((v - 0x01010101u) & ~v & 0x80808080u) != 0; };
    if (!has_zero_byte(codes) && !has_zero_byte(~codes)) {  // no code 0 (subnormal) or 0xFF (NaN)
        const __m512i shift = _mm512_set_epi32(24, 24, 24, 24, 16, 16, 16, 16, 8, 8, 8, 8, 0, 0, 0, 0);
        const __m512i e = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(codes)), shift), _mm512_set1_epi32(0xFF));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    const float s0 = e8m0_table[codes & 0xFF], s1 = e8m0_table[(codes >> 8) & 0xFF];
    const float s2 = e8m0_table[(codes >> 16) & 0xFF], s3 = e8m0_table[codes >> 24];
    return _mm512_set_ps(s3, s3, s3, s3, s2, s2, s2, s2, s1, s1, s1, s1, s0, s0, s0, s0);
}

}  // namespace dsv4::kernels::detail

DSV4_INTRINSICS_END
#endif
