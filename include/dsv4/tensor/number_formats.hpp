// dsv4/tensor/number_formats.hpp — the scalar number formats of DeepSeek-V4 checkpoints.
//
//   bf16      1-8-7   bits stored in uint16_t; decode = bits << 16 (exact)
//   fp8 e4m3  1-4-3   "fn" variant: bias 7, no infinities, 0x7F/0xFF are NaN, max 448
//   fp4 e2m1  1-2-1   bias 1, no inf/NaN, magnitudes 0 .5 1 1.5 2 3 4 6; packed two per byte,
//                     element 2j in the LOW nibble of byte j, element 2j+1 in the high nibble
//   e8m0      0-8-0   unsigned power-of-two scale: byte e -> 2^(e-127); 255 is NaN
//
// Decoding is exact (every code is a float). Encoding rounds to nearest, ties to even,
// and saturates finite values beyond the largest magnitude (the reference clamps to
// ±448 / ±6 before casting, so saturation is what a cast of its inputs sees).
// Decoders are table- or shift-based and branch-free so kernels can use them inline.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include <dsv4/error.hpp>

namespace dsv4 {

// How a matrix is stored (and so which kernel reads it): plain f32, bf16, FP8 e4m3 with
// 128x128 e8m0 block scales, or packed FP4 e2m1 with 1x32 e8m0 scales.
enum class weight_format : uint8_t { f32, bf16, fp8_e4m3, fp4_e2m1 };

constexpr std::string_view to_string(weight_format f) {
    switch (f) {
        case weight_format::f32: return "f32";
        case weight_format::bf16: return "bf16";
        case weight_format::fp8_e4m3: return "fp8";
        case weight_format::fp4_e2m1: return "fp4";
    }
    return "?";
}

// The e8m0 scale grid of an [out, in] matrix stored as `f`: FP8 has one scale per 128x128
// tile, FP4 one per 1x32 group of a row; unscaled formats have none ({0, 0}).
struct scale_grid {
    int64_t rows = 0, cols = 0;
    constexpr int64_t count() const { return rows * cols; }
};
constexpr scale_grid scale_grid_of(weight_format f, int64_t out, int64_t in) {
    switch (f) {
        case weight_format::fp8_e4m3: return {(out + 127) / 128, (in + 127) / 128};
        case weight_format::fp4_e2m1: return {out, in / 32};
        case weight_format::f32:
        case weight_format::bf16: return {};
    }
    return {};
}

// ---------------------------------------------------------------- bf16
constexpr float decode_bf16(uint16_t bits) noexcept {
    return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

constexpr uint16_t encode_bf16(float x) noexcept {
    const uint32_t u = std::bit_cast<uint32_t>(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    const uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);  // ties go to the even bf16
    return static_cast<uint16_t>((u + rounding) >> 16);
}

// ---------------------------------------------------------------- small-float helper
namespace detail {

// Round |x| (finite, >= 0) to a minifloat with `man_bits` mantissa bits, exponent bias
// `bias` and smallest normal exponent 1-bias; returns the code of the magnitude
// (exponent << man_bits | mantissa) or `max_code` when the result is larger.
inline uint32_t round_minifloat_magnitude(float a, int man_bits, int bias, uint32_t max_code) noexcept {
    const int min_normal_exp = 1 - bias;
    int e = 0;
    if (a == 0.0f) return 0;
    // exponent of a (a is a normal or subnormal f32; our targets' ranges are far inside f32's)
    e = static_cast<int>((std::bit_cast<uint32_t>(a) >> 23) & 0xFF) - 127;
    if (e < min_normal_exp) e = min_normal_exp;                  // subnormal range: fixed quantum
    const float quantum = std::ldexp(1.0f, e - man_bits);        // spacing of codes at this exponent
    const float steps = std::nearbyint(a / quantum);             // exact division by a power of two; RNE
    // steps counts quanta; normal numbers have steps in [2^m, 2^(m+1)], subnormals [0, 2^m]
    uint32_t code;
    const uint32_t m_one = 1u << man_bits;
    const auto s = static_cast<uint32_t>(steps);
    if (e == min_normal_exp && s < m_one) {
        code = s;                                                 // subnormal (exponent field 0)
    } else if (s == 2 * m_one) {
        code = static_cast<uint32_t>(e + 1 + bias) << man_bits;   // rounded up to next binade
    } else {
        code = (static_cast<uint32_t>(e + bias) << man_bits) | (s - m_one);
    }
    return code > max_code ? max_code : code;
}

}  // namespace detail

// ---------------------------------------------------------------- fp8 e4m3 (fn)
inline constexpr float fp8_e4m3_max = 448.0f;

// 256-entry decode table, built at compile time.
inline constexpr std::array<float, 256> fp8_e4m3_table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) {
        const uint32_t sign = static_cast<uint32_t>(c) >> 7, exp = (c >> 3) & 0xF, man = c & 0x7;
        float mag;
        if (exp == 0xF && man == 0x7) {
            mag = std::numeric_limits<float>::quiet_NaN();
        } else if (exp == 0) {
            mag = static_cast<float>(man) * 0x1p-9f;
        } else {
            mag = (1.0f + static_cast<float>(man) / 8.0f);
            for (int k = 0; k < static_cast<int>(exp); ++k) mag *= 2.0f;
            mag /= 128.0f;  // 2^(exp-7)
        }
        t[static_cast<size_t>(c)] = sign ? -mag : mag;
    }
    return t;
}();

inline float decode_fp8_e4m3(uint8_t code) noexcept { return fp8_e4m3_table[code]; }

inline uint8_t encode_fp8_e4m3(float x) noexcept {
    const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
    if (std::isnan(x)) return sign | 0x7F;
    const float a = std::fabs(x);
    if (a >= fp8_e4m3_max) return sign | 0x7E;  // saturate (also +-inf)
    return sign | static_cast<uint8_t>(detail::round_minifloat_magnitude(a, 3, 7, 0x7E));
}

// ---------------------------------------------------------------- fp4 e2m1
inline constexpr float fp4_e2m1_max = 6.0f;
inline constexpr std::array<float, 16> fp4_e2m1_table = {
    0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

inline float decode_fp4_e2m1(uint8_t code) noexcept { return fp4_e2m1_table[code & 0xF]; }

// e2m1 has no NaN: a NaN input is a caller bug, reported rather than silently mapped.
inline uint8_t encode_fp4_e2m1(float x) {
    DSV4_CHECK(!std::isnan(x), "encode_fp4_e2m1: NaN has no e2m1 code");
    const uint8_t sign = std::signbit(x) ? 0x8 : 0x0;
    const float a = std::fabs(x);
    if (a >= fp4_e2m1_max) return sign | 0x7;
    return sign | static_cast<uint8_t>(detail::round_minifloat_magnitude(a, 1, 1, 0x7));
}

// Element i of a packed FP4 row (two codes per byte, element 2j in the low nibble).
inline uint8_t fp4_code_at(const uint8_t* packed, size_t i) noexcept {
    const uint8_t byte = packed[i >> 1];
    return (i & 1) ? static_cast<uint8_t>(byte >> 4) : static_cast<uint8_t>(byte & 0xF);
}

inline void fp4_set_code(uint8_t* packed, size_t i, uint8_t code) noexcept {
    uint8_t& byte = packed[i >> 1];
    byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0F) | (code << 4)) : static_cast<uint8_t>((byte & 0xF0) | (code & 0xF));
}

// ---------------------------------------------------------------- e8m0 scales
inline constexpr uint8_t e8m0_nan = 0xFF;

constexpr float decode_e8m0(uint8_t e) noexcept {
    if (e == e8m0_nan) return std::numeric_limits<float>::quiet_NaN();
    // 2^(e-127) built from bits; e == 0 is the f32 subnormal 2^-127.
    if (e == 0) return std::bit_cast<float>(uint32_t{0x00400000u});
    return std::bit_cast<float>(static_cast<uint32_t>(e) << 23);
}

// All 256 decoded scales, for kernels that look one up per block.
inline constexpr std::array<float, 256> e8m0_table = [] {
    std::array<float, 256> t{};
    for (int e = 0; e < 256; ++e) t[size_t(e)] = decode_e8m0(uint8_t(e));
    return t;
}();

// Nearest power of two to x > 0 (ties to the even code); NaN/inf/<=0 give the NaN code
// because e8m0 holds only positive finite scales.
inline uint8_t encode_e8m0(float x) noexcept {
    if (!(x > 0.0f) || std::isinf(x)) return e8m0_nan;
    int e2 = 0;
    const float m = std::frexp(x, &e2);  // x = m * 2^e2, m in [0.5, 1)
    int k = e2 - 1;                      // x = (2m) * 2^k, 2m in [1, 2)
    const float mm = 2.0f * m;
    if (mm > 1.5f || (mm == 1.5f && ((k + 127) & 1))) ++k;  // nearest; tie -> even code
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    return static_cast<uint8_t>(k + 127);
}

// The activation-quantisation scale of the reference (scale_fmt "ue8m0"):
// 2^ceil(log2(v)) for v > 0, as the code of that power of two.
inline uint8_t e8m0_ceil_code(float v) noexcept {
    int e2 = 0;
    const float m = std::frexp(v, &e2);  // v = m * 2^e2, m in [0.5, 1)
    int e = (m == 0.5f) ? e2 - 1 : e2;   // exact power of two keeps its exponent
    if (e < -127) e = -127;
    if (e > 127) e = 127;
    return static_cast<uint8_t>(e + 127);
}

}  // namespace dsv4
