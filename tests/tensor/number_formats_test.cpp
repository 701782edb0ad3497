// Exhaustive tests of the number formats: every code decodes to the value its bit fields
// define (computed here independently with ldexp), every code re-encodes to itself,
// and every midpoint between neighbouring codes rounds to the even code.
#include <dsv4/tensor/number_formats.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace {

// Value of a sign/exponent/mantissa minifloat by its definition (independent oracle).
double minifloat_value(unsigned code, int exp_bits, int man_bits, int bias) {
    const unsigned man = code & ((1u << man_bits) - 1);
    const unsigned exp = (code >> man_bits) & ((1u << exp_bits) - 1);
    const bool neg = (code >> (man_bits + exp_bits)) & 1;
    double mag = exp == 0 ? std::ldexp(double(man), 1 - bias - man_bits)
                          : std::ldexp(1.0 + double(man) / double(1u << man_bits), int(exp) - bias);
    return neg ? -mag : mag;
}

TEST(NumberFormats, Fp8E4m3DecodesEveryCodeByDefinition) {
    for (unsigned c = 0; c < 256; ++c) {
        const float got = dsv4::decode_fp8_e4m3(uint8_t(c));
        if ((c & 0x7F) == 0x7F) {
            EXPECT_TRUE(std::isnan(got)) << c;
            continue;
        }
        EXPECT_EQ(double(got), minifloat_value(c, 4, 3, 7)) << "code " << c;
        EXPECT_EQ(std::signbit(got), bool(c & 0x80)) << c;
    }
    EXPECT_EQ(dsv4::decode_fp8_e4m3(0x7E), 448.0f);
    EXPECT_EQ(dsv4::decode_fp8_e4m3(0x01), 0x1p-9f);
    EXPECT_EQ(dsv4::decode_fp8_e4m3(0x08), 0x1p-6f);
}

TEST(NumberFormats, Fp8E4m3EncodeRoundTripsEveryCode) {
    for (unsigned c = 0; c < 256; ++c) {
        if ((c & 0x7F) == 0x7F) continue;
        EXPECT_EQ(dsv4::encode_fp8_e4m3(dsv4::decode_fp8_e4m3(uint8_t(c))), c) << c;
    }
    EXPECT_EQ(dsv4::encode_fp8_e4m3(std::nanf("")) & 0x7F, 0x7F);
}

// For each pair of adjacent non-negative codes, check the midpoint ties to the even code
// and values just inside either side round to that side.
template <class Decode, class Encode>
void check_midpoints(unsigned n_codes, unsigned sign_bit, Decode decode, Encode encode) {
    for (unsigned c = 0; c + 1 < n_codes; ++c) {
        const float lo = decode(c), hi = decode(c + 1);
        const float mid = (lo + hi) / 2;  // exact: one extra bit fits in f32
        const unsigned even = (c % 2 == 0) ? c : c + 1;
        EXPECT_EQ(encode(mid), even) << "midpoint of codes " << c << "," << c + 1;
        EXPECT_EQ(encode(std::nextafter(mid, -1.0f)), c) << c;
        EXPECT_EQ(encode(std::nextafter(mid, 1e9f)), c + 1) << c;
        EXPECT_EQ(encode(-mid), even | sign_bit) << "negative midpoint " << c;
    }
}

TEST(NumberFormats, Fp8E4m3RoundsToNearestEven) {
    check_midpoints(
        0x7F, 0x80, [](unsigned c) { return dsv4::decode_fp8_e4m3(uint8_t(c)); },
        [](float x) { return unsigned(dsv4::encode_fp8_e4m3(x)); });
    // hand-computed cases
    EXPECT_EQ(dsv4::encode_fp8_e4m3(1.0625f), 0x38);   // 1 + 1/16: tie between 1.0 (0x38) and 1.125 -> even 0x38
    EXPECT_EQ(dsv4::encode_fp8_e4m3(1.1875f), 0x3A);   // tie between 1.125 (0x39) and 1.25 (0x3A) -> even
    EXPECT_EQ(dsv4::encode_fp8_e4m3(0.3f), 0x2A);      // 0.3 -> 0.3125 = 1.25 * 2^-2
    EXPECT_EQ(dsv4::encode_fp8_e4m3(500.0f), 0x7E);    // saturates to 448
    EXPECT_EQ(dsv4::encode_fp8_e4m3(-1e30f), 0xFE);
    EXPECT_EQ(dsv4::encode_fp8_e4m3(0x1p-10f), 0x00);  // half the smallest subnormal: tie -> 0
    EXPECT_EQ(dsv4::encode_fp8_e4m3(0x1.8p-9f), 0x02); // 1.5 quanta: tie -> even (2 quanta)
}

TEST(NumberFormats, Fp4E2m1EveryCode) {
    for (unsigned c = 0; c < 16; ++c) {
        const float v = dsv4::decode_fp4_e2m1(uint8_t(c));
        EXPECT_EQ(double(v), minifloat_value(c, 2, 1, 1)) << c;
        EXPECT_EQ(dsv4::encode_fp4_e2m1(v), c) << c;
    }
    check_midpoints(
        8, 0x8, [](unsigned c) { return dsv4::decode_fp4_e2m1(uint8_t(c)); },
        [](float x) { return unsigned(dsv4::encode_fp4_e2m1(x)); });
    EXPECT_EQ(dsv4::encode_fp4_e2m1(2.5f), 0x4);   // tie 2|3 -> even code 4 (2.0)
    EXPECT_EQ(dsv4::encode_fp4_e2m1(5.0f), 0x6);   // tie 4|6 -> even code 6 (4.0)
    EXPECT_EQ(dsv4::encode_fp4_e2m1(0.25f), 0x0);  // tie 0|0.5 -> 0
    EXPECT_EQ(dsv4::encode_fp4_e2m1(7.0f), 0x7);   // saturates
    EXPECT_EQ(dsv4::encode_fp4_e2m1(-0.8f), 0x9 + 1);  // -0.8 -> -1.0 (code 10)
    EXPECT_THROW(dsv4::encode_fp4_e2m1(std::nanf("")), dsv4::error);
}

TEST(NumberFormats, Fp4NibblePacking) {
    std::vector<uint8_t> packed(3, 0);
    const uint8_t codes[6] = {1, 15, 7, 0, 9, 4};
    for (size_t i = 0; i < 6; ++i) dsv4::fp4_set_code(packed.data(), i, codes[i]);
    EXPECT_EQ(packed[0], 0xF1);  // element 0 low nibble, element 1 high nibble
    EXPECT_EQ(packed[1], 0x07);
    EXPECT_EQ(packed[2], 0x49);
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(dsv4::fp4_code_at(packed.data(), i), codes[i]);
}

TEST(NumberFormats, Bf16EveryCode) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const float v = dsv4::decode_bf16(uint16_t(b));
        ASSERT_EQ(std::bit_cast<uint32_t>(v), b << 16);
        if (std::isnan(v)) {
            EXPECT_TRUE(std::isnan(dsv4::decode_bf16(dsv4::encode_bf16(v)))) << b;
        } else {
            ASSERT_EQ(dsv4::encode_bf16(v), b) << b;
        }
    }
}

TEST(NumberFormats, Bf16RoundsToNearestEvenAtEveryMidpoint) {
    // all finite positive adjacent pairs (0x0000..0x7F7F): midpoints are exact in f32
    for (uint32_t b = 0; b < 0x7F7F; ++b) {
        const float lo = dsv4::decode_bf16(uint16_t(b)), hi = dsv4::decode_bf16(uint16_t(b + 1));
        const float mid = std::bit_cast<float>((b << 16) | 0x8000u);
        ASSERT_TRUE(mid > lo && mid < hi);
        const uint32_t even = (b % 2 == 0) ? b : b + 1;
        ASSERT_EQ(dsv4::encode_bf16(mid), even) << b;
        ASSERT_EQ(dsv4::encode_bf16(std::nextafter(mid, 0.0f)), b) << b;
        ASSERT_EQ(dsv4::encode_bf16(std::nextafter(mid, hi)), b + 1) << b;
    }
    EXPECT_EQ(dsv4::encode_bf16(1.00390625f), 0x3F80);  // 1 + 2^-8: tie -> even (1.0)
    EXPECT_EQ(dsv4::encode_bf16(1.01171875f), 0x3F82);  // 1 + 3*2^-8: tie -> even (1 + 2^-6)
    EXPECT_EQ(dsv4::encode_bf16(3.4e38f), 0x7F80);      // rounds past the largest finite to inf
}

TEST(NumberFormats, E8m0EveryCode) {
    for (unsigned e = 0; e < 255; ++e) {
        const float v = dsv4::decode_e8m0(uint8_t(e));
        EXPECT_EQ(double(v), std::ldexp(1.0, int(e) - 127)) << e;
        EXPECT_EQ(dsv4::encode_e8m0(v), e) << e;
        EXPECT_EQ(dsv4::e8m0_ceil_code(v), e) << e;  // exact powers keep their exponent
    }
    EXPECT_TRUE(std::isnan(dsv4::decode_e8m0(255)));
    EXPECT_EQ(dsv4::encode_e8m0(1.4f), 127);   // nearer to 1 than to 2
    EXPECT_EQ(dsv4::encode_e8m0(1.6f), 128);
    EXPECT_EQ(dsv4::encode_e8m0(1.5f), 128);   // tie between codes 127 and 128 -> even 128
    EXPECT_EQ(dsv4::encode_e8m0(3.0f), 128);   // tie between 128 and 129 -> even 128
    EXPECT_EQ(dsv4::encode_e8m0(0.0f), 255);
    EXPECT_EQ(dsv4::e8m0_ceil_code(3.0f), 129);   // ceil(log2 3) = 2
    EXPECT_EQ(dsv4::e8m0_ceil_code(448.0f / 448.0f), 127);
}

}  // namespace
