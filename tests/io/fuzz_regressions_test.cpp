// Regression tests for inputs found by fuzzing the parsers (fuzz/) or while writing the
// fuzz targets: each must surface as a dsv4::error or a listed difference, never as a
// crash. The matching reproducers are seeds in fuzz/corpus/<target>/.
#include <dsv4/config/mini.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/io/safetensors.hpp>
#include <dsv4/io/safetensors_writer.hpp>

#include "../support/test_util.hpp"

#include <cstring>

namespace {

// `[[[...]]]` nested `depth` levels.
std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

bool contains(const std::vector<std::string>& lines, const std::string& fragment) {
    for (const auto& l : lines)
        if (l.find(fragment) != std::string::npos) return true;
    return false;
}

// config_differences used to print the score_func value with dump(), which recurses per
// nesting level: a deeply nested value overflowed the stack.
TEST(FuzzRegressions, DeeplyNestedScoreFuncIsNamedNotPrinted) {
    const std::string text = R"({"score_func": )" + nested_arrays(200000) + "}";
    const auto doc = dsv4::parse_config_json(text, "c.json");
    const auto diffs = dsv4::config_differences(doc, dsv4::shape_of<dsv4::FlashMiniConfig>());
    EXPECT_TRUE(contains(diffs, "'score_func' is a JSON array, only \"sqrtsoftplus\" exists in V4"));
    const auto hf = dsv4::parse_config_json(R"({"hidden_size": 64, "scoring_func": {"a": [1]}})", "c.json");
    EXPECT_TRUE(contains(dsv4::config_differences(hf, dsv4::shape_of<dsv4::FlashMiniConfig>()),
                         "'scoring_func' is a JSON object"));
    const auto str = dsv4::parse_config_json(R"({"score_func": "softmax"})", "c.json");
    EXPECT_TRUE(contains(dsv4::config_differences(str, dsv4::shape_of<dsv4::FlashMiniConfig>()),
                         "'score_func' is \"softmax\""));
}

// A compress ratio outside int's range used to wrap (4294967300 -> 4) and match.
TEST(FuzzRegressions, CompressRatiosOutsideIntRangeDoNotWrap) {
    const std::string golden = dsv4::read_text_file(dsv4::testing::golden("flash-mini/config.json"));
    const auto shape = dsv4::shape_of<dsv4::FlashMiniConfig>();
    ASSERT_TRUE(dsv4::config_differences(dsv4::parse_config_json(golden, "c.json"), shape).empty());
    for (const char* ratios : {"[0, 4294967300, 128, 0]", "[0, 4, 128, 18446744073709551616]",
                               "[0, 4, 128, -18446744073709551616]", "[0, -4294967292, 128, 0]"}) {
        auto j = nlohmann::json::parse(golden);
        j["compress_ratios"] = nlohmann::json::parse(ratios);
        const auto diffs = dsv4::config_differences(dsv4::parse_config_json(j.dump(), "c.json"), shape);
        EXPECT_TRUE(contains(diffs, "'compress_ratios' must be an array of integers")) << ratios;
    }
}

// The JSON parser and destructor do not recurse: deep nesting in the other parsers is a
// plain dsv4::error.
TEST(FuzzRegressions, DeeplyNestedHeadersAreRejectedWithoutRecursion) {
    EXPECT_DSV4_ERROR(dsv4::parse_shard_index(R"({"weight_map": )" + nested_arrays(200000) + "}", "i.json"), "i.json",
                      "missing object 'weight_map'");
    const std::string header = R"({"a": )" + nested_arrays(200000) + "}";
    std::vector<std::byte> bytes(8 + header.size());
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = std::byte((n >> (8 * i)) & 0xFF);
    std::memcpy(bytes.data() + 8, header.data(), header.size());
    EXPECT_DSV4_ERROR(dsv4::parse_safetensors(bytes, "t.safetensors"), "t.safetensors", "tensor 'a'",
                      "entry must be an object");
}

// Found by the sanitized test run (UBSan): tensor_to_write::from passed the null data() of
// an empty vector to memcpy. An empty tensor must round-trip through the writer.
TEST(FuzzRegressions, EmptyTensorFromEmptyVector) {
    const auto image = dsv4::safetensors_image(
        {dsv4::tensor_to_write::from<float>("empty", dsv4::dtype::f32, {0, 3}, std::vector<float>{}),
         dsv4::tensor_to_write::from<int32_t>("one", dsv4::dtype::i32, {1}, {7})});
    const auto header = dsv4::parse_safetensors(image, "t.safetensors");
    ASSERT_EQ(header.tensors.size(), 2u);
    for (const auto& t : header.tensors)
        EXPECT_EQ(t.nbytes, t.name == "empty" ? 0u : 4u) << t.name;
}

}  // namespace
