// act_quant (the official inference's activation rounding) against hand-computed cases and
// the scalar number-format encoders: the block scale, e4m3 rounding of every sampled f32,
// the vector row quantiser against the scalar formula, and the rounded_row layouts.
#include <dsv4/kernels/act_quant.hpp>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.hpp"

namespace {

using namespace dsv4;
using namespace dsv4::kernels;

TEST(ActQuant, BlockScaleIsCeilPowerOfTwoOfAmaxOver448) {
    EXPECT_EQ(act_quant_scale(448.0f), 1.0f);
    EXPECT_EQ(act_quant_scale(449.0f), 2.0f);
    EXPECT_EQ(act_quant_scale(224.0f), 0.5f);
    EXPECT_EQ(act_quant_scale(1.0f), 0x1p-8f);        // 1/448 = 2^-8.81
    EXPECT_EQ(act_quant_scale(0.0f), 0x1p-22f);       // amax floored at 1e-4: 1e-4/448 = 2^-22.09
    EXPECT_EQ(act_quant_scale(1e-4f), 0x1p-22f);
    EXPECT_EQ(act_quant_scale(3.0e5f), 1024.0f);      // 669.6 -> 2^10
}

TEST(ActQuant, RoundToE4m3MatchesTheEncoderOnSampledFloats) {
    // every 9973rd f32 bit pattern (all exponents, both signs), plus every e4m3 midpoint
    for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 9973) {
        const float y = std::bit_cast<float>(uint32_t(u));
        if (std::isnan(y)) {
            EXPECT_TRUE(std::isnan(round_to_e4m3(y)));
            continue;
        }
        ASSERT_EQ(std::bit_cast<uint32_t>(round_to_e4m3(y)), std::bit_cast<uint32_t>(decode_fp8_e4m3(encode_fp8_e4m3(y))))
            << "y = " << y;
    }
    for (int c = 0; c < 0x7E; ++c) {
        const float a = decode_fp8_e4m3(uint8_t(c)), b = decode_fp8_e4m3(uint8_t(c + 1));
        for (float y : {(a + b) / 2, -(a + b) / 2, std::nextafter((a + b) / 2, 0.0f), std::nextafter((a + b) / 2, 1e9f)})
            ASSERT_EQ(round_to_e4m3(y), decode_fp8_e4m3(encode_fp8_e4m3(y))) << "y = " << y;
    }
    EXPECT_EQ(round_to_e4m3(1e30f), 448.0f);  // clamp, as the reference does before its cast
    EXPECT_EQ(round_to_e4m3(-464.0f), -448.0f);
    EXPECT_EQ(round_to_e4m3(0x1p-10f), 0.0f);  // half the smallest subnormal: ties to even (0)
    EXPECT_EQ(round_to_e4m3(0x1p-10f * 3), 0x1p-8f);  // 1.5 quanta: ties to even (2)
}

TEST(ActQuant, HandComputedBlock) {
    // amax 500 -> s = 2: 1/2 = 0.5 exact; 0.3/2 = 0.15 -> 0.15625; -500/2 = -250 -> -256
    std::vector<float> x(128, 0.0f);
    x[0] = 1.0f, x[1] = 0.3f, x[2] = -500.0f;
    std::vector<float> out(128);
    fake_quantize_row_fp8(x.data(), x.size(), out.data());
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], 0.3125f);
    EXPECT_EQ(out[2], -512.0f);
    EXPECT_EQ(out[3], 0.0f);
    std::vector<uint16_t> q(128);
    float s = 0;
    quantize_row_fp8(x.data(), x.size(), q.data(), &s);
    EXPECT_EQ(s, 2.0f);
    EXPECT_EQ(decode_bf16(q[1]), 0.15625f);
    EXPECT_EQ(decode_bf16(q[2]), -256.0f);
}

// The vector quantiser against the formula in scalar code, for lengths around the vector
// width and the block size, misaligned, with values spanning many binades.
TEST(ActQuant, RowQuantiserMatchesScalarFormula) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
    std::uniform_int_distribution<int> ex(-30, 12);
    for (size_t K : {size_t(1), size_t(15), size_t(16), size_t(17), size_t(127), size_t(128), size_t(129), size_t(300), size_t(1024)})
        for (size_t misalign : {size_t(0), size_t(3)}) {
            std::vector<float> buf(K + misalign);
            for (auto& v : buf) v = std::ldexp(mant(rng), ex(rng));
            if (K > 5) buf[misalign + 5] = 0.0f;
            if (K > 9) buf[misalign + 9] = -0.0f;
            const float* x = buf.data() + misalign;
            std::vector<uint16_t> q(K);
            std::vector<float> scales((K + 127) / 128), fake(K);
            quantize_row_fp8(x, K, q.data(), scales.data());
            fake_quantize_row_fp8(x, K, fake.data());
            for (size_t b0 = 0; b0 < K; b0 += 128) {
                const size_t b1 = std::min(K, b0 + 128);
                float amax = 0;
                for (size_t k = b0; k < b1; ++k) amax = std::max(amax, std::fabs(x[k]));
                const float s = decode_e8m0(e8m0_ceil_code(std::max(amax, 1e-4f) * (1.0f / 448.0f)));
                ASSERT_EQ(scales[b0 / 128], s);
                for (size_t k = b0; k < b1; ++k) {
                    const float want = decode_fp8_e4m3(encode_fp8_e4m3(x[k] / s));
                    ASSERT_EQ(decode_bf16(q[k]), want) << "K=" << K << " k=" << k;
                    ASSERT_EQ(fake[k], want * s) << "K=" << K << " k=" << k;
                }
            }
        }
}

TEST(ActQuant, RoundedRowLayouts) {
    const auto x = dsv4::testing::random_floats(256, 3, 4.0f);
    rounded_row r;
    r.prepare(x.data(), 256, true, true);
    for (size_t g = 0; g < 256; g += 128)
        for (size_t i = 0; i < 32; ++i)
            for (size_t p = 0; p < 4; ++p) ASSERT_EQ(r.q_fp4[g + 32 * p + i], r.q[g + 4 * i + p]);
    for (size_t k = 0; k < 256; ++k) ASSERT_EQ(r.xb[k], encode_bf16(x[k]));
    linear_weight w;
    w.format = weight_format::fp4_e2m1;
    w.in = 256;
    w.input = input_rounding::fp8_blocks;
    EXPECT_TRUE(r.serves(w));
    w.in = 128;
    EXPECT_FALSE(r.serves(w));  // another width
    rounded_row no_fp4;
    no_fp4.prepare(x.data(), 256, true, false, false);
    w.in = 256;
    EXPECT_FALSE(no_fp4.serves(w));  // FP4 order not laid out
    w.format = weight_format::bf16;
    w.input = input_rounding::bf16;
    EXPECT_FALSE(no_fp4.serves(w));
}

// x = hi + mid + lo exactly with three bf16 parts (the exact decode path's input), on the
// vector path and the scalar one alike; checked on every 9973rd bit pattern.
TEST(ActQuant, ExactSplitIntoThreeBf16Parts) {
    std::vector<float> xs;
    for (uint64_t b = 0; b <= 0xFFFFFFFFull; b += 9973) xs.push_back(std::bit_cast<float>(uint32_t(b)));
    for (float v : {1.0f, -1.0f, 0.0f, -0.0f, 3.1415927f, 0x1.fffffep127f, 0x1p-103f, 0x1.000002p-103f}) xs.push_back(v);
    std::vector<uint16_t> parts(3 * xs.size());
    split_row_bf16x3(xs.data(), xs.size(), parts.data());
    size_t exact_checked = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const float x = xs[i];
        const uint16_t hi = parts[i], mid = parts[xs.size() + i], lo = parts[2 * xs.size() + i];
        uint16_t shi, smid, slo;
        split_bf16x3(x, shi, smid, slo);
        ASSERT_EQ(hi, shi) << i;
        ASSERT_EQ(mid, smid) << i;
        ASSERT_EQ(lo, slo) << i;
        if (std::isnan(x)) {
            ASSERT_TRUE(std::isnan(decode_bf16(hi))) << std::bit_cast<uint32_t>(x);
            ASSERT_EQ(mid, 0);
            ASSERT_EQ(lo, 0);
        } else if (std::isinf(x)) {
            ASSERT_EQ(decode_bf16(hi), x);
            ASSERT_EQ(mid | lo, 0);
        } else if (std::fabs(x) >= 0x1p-103f) {
            ASSERT_EQ(double(decode_bf16(hi)) + double(decode_bf16(mid)) + double(decode_bf16(lo)), double(x))
                << std::hexfloat << x;
            ++exact_checked;
        }
    }
    EXPECT_GT(exact_checked, 300000u);
}

TEST(ActQuant, RoundedRowExactSplitLayouts) {
    const auto x = dsv4::testing::random_floats(384, 5, 4.0f);
    rounded_row r;
    r.prepare(x.data(), 384, false, false, true, true);
    ASSERT_EQ(r.split.size(), 3u * 384);
    ASSERT_EQ(r.split_fp4.size(), 3u * 384);
    for (size_t p = 0; p < 3; ++p)
        for (size_t g = 0; g < 384; g += 128)
            for (size_t i = 0; i < 32; ++i)
                for (size_t j = 0; j < 4; ++j)
                    ASSERT_EQ(r.split_fp4[p * 384 + g + 32 * j + i], r.split[p * 384 + g + 4 * i + j]);
    for (size_t k = 0; k < 384; ++k)
        ASSERT_EQ(decode_bf16(r.split[k]) + decode_bf16(r.split[384 + k]) + decode_bf16(r.split[768 + k]), x[k]);
    linear_weight w;
    w.format = weight_format::fp8_e4m3;
    w.in = 384;
    EXPECT_TRUE(r.serves(w));
    w.input = input_rounding::fp8_blocks;
    EXPECT_FALSE(r.serves(w));  // not rounded
    rounded_row rounded_only;
    rounded_only.prepare(x.data(), 384, true, true, true);
    w.input = input_rounding::none;
    EXPECT_FALSE(rounded_only.serves(w));  // no exact split
    rounded_row no_fp4;
    no_fp4.prepare(x.data(), 384, false, false, false, true);
    EXPECT_TRUE(no_fp4.serves(w));
    w.format = weight_format::fp4_e2m1;
    EXPECT_FALSE(no_fp4.serves(w));  // FP4 order not laid out
}

}  // namespace

// A block holding NaN or an infinity has no finite scale: the whole block becomes NaN, on the
// vector path (16-wide, any lane) and the scalar tail alike; other blocks are unaffected.
TEST(ActQuant, NonFiniteBlocksBecomeNaN) {
    for (size_t K : {size_t(256), size_t(133)})
        for (size_t bad : {size_t(0), size_t(7), size_t(17), size_t(127)})
            for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()}) {
                std::vector<float> x(K, 0.5f), out(K);
                x[bad] = v;
                fake_quantize_row_fp8(x.data(), K, out.data());
                for (size_t k = 0; k < 128; ++k) ASSERT_TRUE(std::isnan(out[k])) << "K=" << K << " bad=" << bad << " k=" << k;
                for (size_t k = 128; k < K; ++k) ASSERT_EQ(out[k], 0.5f) << "K=" << K << " k=" << k;
                EXPECT_TRUE(std::isnan(act_quant_scale(v)));
            }
}
