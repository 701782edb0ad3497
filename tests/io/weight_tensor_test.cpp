// Checkpoint tensors handed out as xtensor: zero-copy F32 views, and exact dequantisation of
// BF16, FP8 (128x128 block scales) and FP4 (1x32 scales) against hand-computed values.
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/io/weight_tensor.hpp>

#include "../support/test_util.hpp"

namespace {

using dsv4::dtype;

class WeightTensor : public ::testing::Test {
protected:
    void SetUp() override {
        // FP8 [2, 130]: codes 0x38 = 1.0 at [0, 0] and 0x40 = 2.0 at [1, 129]; scales [1, 2] = 2^0, 2^2
        std::vector<uint8_t> fp8(2 * 130, 0);
        fp8[0] = 0x38;
        fp8[130 + 129] = 0x40;
        // FP4 [1, 32] packed in 16 bytes: element 0 = code 0x2 (1.0), element 31 = 0xF (-6.0); scale 2^-1
        std::vector<uint8_t> fp4(16, 0);
        fp4[0] = 0x02;
        fp4[15] = 0xF0;
        dsv4::write_safetensors(
            dir.file("model.safetensors"),
            {dsv4::tensor_to_write::from("a.weight", dtype::f8_e4m3, {2, 130}, fp8),
             dsv4::tensor_to_write::from("a.scale", dtype::f8_e8m0, {1, 2}, std::vector<uint8_t>{127, 129}),
             dsv4::tensor_to_write::from("b.weight", dtype::i8, {1, 16}, fp4),
             dsv4::tensor_to_write::from("b.scale", dtype::f8_e8m0, {1, 1}, std::vector<uint8_t>{126}),
             dsv4::tensor_to_write::from("c", dtype::bf16, {3}, std::vector<uint16_t>{0x3F80, 0xC000, 0x3E80}),
             dsv4::tensor_to_write::from("d", dtype::f32, {2, 2}, std::vector<float>{1, 2, 3, 4}),
             dsv4::tensor_to_write::from("e.weight", dtype::f8_e4m3, {1, 4}, std::vector<uint8_t>{0, 0, 0, 0})});
        ck = std::make_unique<dsv4::checkpoint>(dir.path().string());
    }
    dsv4::testing::temp_dir dir;
    std::unique_ptr<dsv4::checkpoint> ck;
};

TEST_F(WeightTensor, Fp8TimesItsBlockScale) {
    const auto a = dsv4::dequantized<2>(*ck, "a.weight");
    ASSERT_EQ(a.shape(0), 2u);
    ASSERT_EQ(a.shape(1), 130u);
    EXPECT_EQ(a(0, 0), 1.0f);
    EXPECT_EQ(a(1, 129), 8.0f);  // 2.0 x 2^2 (column 129 is in the second 128-block)
    EXPECT_EQ(a(1, 127), 0.0f);
}

TEST_F(WeightTensor, Fp4UnpackedTimesItsGroupScale) {
    const auto b = dsv4::dequantized<2>(*ck, "b.weight");
    ASSERT_EQ(b.shape(1), 32u);  // logical width: two codes per stored byte
    EXPECT_EQ(b(0, 0), 0.5f);
    EXPECT_EQ(b(0, 31), -3.0f);
    EXPECT_EQ(b(0, 1), 0.0f);
}

TEST_F(WeightTensor, Bf16AndF32) {
    const auto c = dsv4::dequantized<1>(*ck, "c");
    EXPECT_EQ(c(0), 1.0f);
    EXPECT_EQ(c(1), -2.0f);
    EXPECT_EQ(c(2), 0.25f);
    const auto d = dsv4::weight_view<2>(*ck, "d");
    EXPECT_EQ(d.data(), reinterpret_cast<const float*>(ck->at("d").data));  // zero-copy
    EXPECT_EQ(d(1, 0), 3.0f);
    EXPECT_EQ(dsv4::dequantized<2>(*ck, "d")(1, 1), 4.0f);
}

TEST_F(WeightTensor, MistakesAreNamed) {
    EXPECT_DSV4_ERROR(dsv4::weight_view<1>(*ck, "c"), "'c' is BF16", "zero-copy view needs F32");
    EXPECT_DSV4_ERROR(dsv4::dequantized<1>(*ck, "d"), "'d' has rank 2, requested as rank 1");
    EXPECT_DSV4_ERROR(dsv4::dequantized<2>(*ck, "e.weight"), "'e.weight' is F8_E4M3 but has no 'e.scale'");
    EXPECT_DSV4_ERROR(dsv4::dequantized<2>(*ck, "missing"), "missing");
}

}  // namespace
