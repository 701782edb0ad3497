// The safetensors reader: round trip through the writer, and one test per malformed case,
// each expecting a dsv4::error that names the file and the fault.
#include <dsv4/io/safetensors.hpp>
#include <dsv4/io/safetensors_writer.hpp>

#include "../support/test_util.hpp"

#include <cstring>
#include <fstream>

namespace {

using dsv4::dtype;

std::vector<dsv4::tensor_to_write> two_tensors() {
    return {dsv4::tensor_to_write::from<float>("a", dtype::f32, {2, 3}, {1, 2, 3, 4, 5, 6}),
            dsv4::tensor_to_write::from<uint16_t>("b", dtype::bf16, {3}, {0x3F80, 0x4000, 0xC040})};
}

// A file whose header is exactly `header` (padded) followed by `data_bytes` zero bytes.
std::vector<std::byte> raw_file(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
    std::string h = header;
    while ((8 + h.size()) % 8) h.push_back(' ');
    const uint64_t n = claimed_len ? claimed_len : h.size();
    std::vector<std::byte> out(8 + h.size() + data_bytes, std::byte{0});
    for (int i = 0; i < 8; ++i) out[size_t(i)] = std::byte((n >> (8 * i)) & 0xFF);
    std::memcpy(out.data() + 8, h.data(), h.size());
    return out;
}

void write(const std::string& path, const std::vector<std::byte>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

class SafetensorsTest : public ::testing::Test {
protected:
    dsv4::testing::temp_dir dir;
    std::string path = dir.file("t.safetensors");
    void open_raw(const std::vector<std::byte>& bytes) {
        write(path, bytes);
        dsv4::safetensors_file f(path);
    }
};

TEST_F(SafetensorsTest, RoundTripsThroughTheWriter) {
    dsv4::write_safetensors(path, two_tensors(), {{"format", "pt"}});
    dsv4::safetensors_file f(path);
    ASSERT_EQ(f.tensors().size(), 2u);
    const auto& a = f.at("a");
    EXPECT_EQ(a.type, dtype::f32);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.as<float>(dtype::f32)[4], 5.0f);
    EXPECT_EQ(f.at("b").as<uint16_t>(dtype::bf16)[2], 0xC040);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.find("c"), nullptr);
    EXPECT_DSV4_ERROR(f.at("c"), "t.safetensors", "no tensor named 'c'");
    EXPECT_DSV4_ERROR(a.as<uint16_t>(dtype::bf16), "'a'", "F32", "expected BF16");
}

TEST_F(SafetensorsTest, WriterLeavesNoPartialFileOnError) {
    auto bad = two_tensors();
    bad[0].shape = {7};  // 6 values for 7 elements
    EXPECT_DSV4_ERROR(dsv4::write_safetensors(path, bad), "'a'");
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST_F(SafetensorsTest, EmptyFile) { EXPECT_DSV4_ERROR(open_raw({}), "t.safetensors", "truncated"); }

TEST_F(SafetensorsTest, TruncatedData) {
    auto img = dsv4::safetensors_image(two_tensors());
    img.resize(img.size() - 3);
    EXPECT_DSV4_ERROR(open_raw(img), "t.safetensors", "'b'", "out of range");
}

TEST_F(SafetensorsTest, HeaderLengthPastTheEnd) {
    EXPECT_DSV4_ERROR(open_raw(raw_file("{}", 0, 4096)), "t.safetensors", "header length 4096", "past the end");
}

TEST_F(SafetensorsTest, HeaderLengthAbsurd) {
    EXPECT_DSV4_ERROR(open_raw(raw_file("{}", 0, uint64_t(1) << 62)), "t.safetensors", "exceeds the limit");
}

TEST_F(SafetensorsTest, InvalidJson) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "F32",)", 0)), "t.safetensors", "not valid JSON");
}

TEST_F(SafetensorsTest, HeaderNotAnObject) { EXPECT_DSV4_ERROR(open_raw(raw_file("[1, 2]", 0)), "must be a JSON object"); }

TEST_F(SafetensorsTest, UnknownDtype) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"w": {"dtype": "F12", "shape": [2], "data_offsets": [0, 4]}})", 4)),
                      "t.safetensors", "'w'", "unknown dtype 'F12'");
}

TEST_F(SafetensorsTest, ShapeBytesMismatch) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12)),
                      "'w'", "16 bytes", "span 12 bytes");
}

TEST_F(SafetensorsTest, OverlappingOffsets) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                        12)),
                      "t.safetensors", "'b'", "overlap");
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 8)),
                      "'a'", "out of range");
}

TEST_F(SafetensorsTest, OffsetsReversed) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [8, 0]}})", 8)),
                      "'a'", "before begin");
}

TEST_F(SafetensorsTest, HoleBetweenTensors) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                                        12)),
                      "'b'", "hole");
}

TEST_F(SafetensorsTest, TrailingBytes) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8)),
                      "t.safetensors", "trailing");
}

TEST_F(SafetensorsTest, DuplicateName) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                                           "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                                        2)),
                      "'a'", "twice");
}

TEST_F(SafetensorsTest, MisalignedTensor) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [1, 5]}})",
                                        5)),
                      "'b'", "not aligned");
}

TEST_F(SafetensorsTest, NegativeShape) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", 1)),
                      "'a'", "non-negative");
}

TEST_F(SafetensorsTest, ShapeOverflow) {
    EXPECT_DSV4_ERROR(
        open_raw(raw_file(R"({"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 1]}})", 1)),
        "'a'", "overflow");
}

TEST_F(SafetensorsTest, MissingField) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"a": {"dtype": "U8", "data_offsets": [0, 1]}})", 1)), "'a'", "'shape'");
}

TEST_F(SafetensorsTest, BadMetadata) {
    EXPECT_DSV4_ERROR(open_raw(raw_file(R"({"__metadata__": {"k": 3}})", 0)), "__metadata__", "'k'");
}

TEST_F(SafetensorsTest, MissingFile) { EXPECT_DSV4_ERROR(dsv4::safetensors_file(dir.file("nope.safetensors")), "nope.safetensors", "cannot open"); }

}  // namespace
