// config.json reading in both spellings and the field-by-field comparison.
#include <dsv4/config/mini.hpp>
#include <dsv4/config/pro.hpp>
#include <dsv4/io/config_json.hpp>

#include "../support/test_util.hpp"

namespace {

using dsv4::testing::golden;

TEST(ConfigJson, GoldenFilesMatchTheirCompiledConfigsInBothSpellings) {
    for (const char* f : {"config.json", "hf_config.json"}) {
        const auto flash = dsv4::read_config_json(golden(std::string("flash-mini/") + f));
        EXPECT_TRUE(dsv4::config_differences(flash, dsv4::shape_of<dsv4::FlashMiniConfig>()).empty()) << f;
        const auto pro = dsv4::read_config_json(golden(std::string("pro-mini/") + f));
        EXPECT_TRUE(dsv4::config_differences(pro, dsv4::shape_of<dsv4::ProMiniConfig>()).empty()) << f;
        const auto fp8 = dsv4::read_config_json(golden(std::string("flash-mini-fp8/") + f));
        EXPECT_TRUE(dsv4::config_differences(fp8, dsv4::shape_of<dsv4::FlashMiniFp8Config>()).empty()) << f;
    }
    const auto bench = dsv4::read_config_json(std::string(DSV4_TEST_DATA) + "/bench-mini/hf_config.json");
    EXPECT_TRUE(dsv4::config_differences(bench, dsv4::shape_of<dsv4::BenchMiniConfig>()).empty());
}

TEST(ConfigJson, MismatchListsEveryDifferingField) {
    const auto doc = dsv4::read_config_json(golden("pro-mini/config.json"));
    try {
        dsv4::check_config(doc, dsv4::shape_of<dsv4::FlashMiniConfig>(), "FlashMiniConfig");
        FAIL() << "expected a mismatch";
    } catch (const dsv4::error& e) {
        const std::string m = e.what();
        for (const char* frag : {"pro-mini/config.json", "FlashMiniConfig", "'dim' is 96, compiled config has 64",
                                 "'vocab_size' is 384", "'compress_ratios' is [128, 4, 0], compiled config has [0, 4, 128, 0]",
                                 "'swiglu_limit' is 4", "'compress_rope_theta'", "'n_hash_layers'"})
            EXPECT_NE(m.find(frag), std::string::npos) << m << "\nlacks " << frag;
    }
    // HF spelling names the HF keys
    const auto hf = dsv4::read_config_json(golden("pro-mini/hf_config.json"));
    EXPECT_DSV4_ERROR(dsv4::check_config(hf, dsv4::shape_of<dsv4::FlashMiniConfig>(), "FlashMiniConfig"),
                      "'hidden_size' is 96", "'rope_scaling.factor' is 4");
}

TEST(ConfigJson, StorageFormatsAreCompared) {
    const auto fp8 = dsv4::read_config_json(golden("flash-mini-fp8/config.json"));
    EXPECT_DSV4_ERROR(dsv4::check_config(fp8, dsv4::shape_of<dsv4::FlashMiniConfig>(), "FlashMiniConfig"),
                      "dense weight dtype is fp8, compiled config has unquantised", "expert weight dtype is fp4");
}

TEST(ConfigJson, BadValuesAndJson) {
    EXPECT_DSV4_ERROR(dsv4::parse_config_json("{\"dim\": ", "c.json"), "c.json", "not valid JSON");
    const auto doc = dsv4::parse_config_json(R"({"dim": "64", "score_func": "softmax"})", "c.json");
    const auto diffs = dsv4::config_differences(doc, dsv4::shape_of<dsv4::FlashMiniConfig>());
    auto has = [&](const std::string& s) {
        for (const auto& d : diffs)
            if (d.find(s) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(has("'dim' must be an integer"));
    EXPECT_TRUE(has("'vocab_size' is missing"));
    EXPECT_TRUE(has("only \"sqrtsoftplus\""));
    EXPECT_FALSE(has("'hc_eps'"));  // defaulted key
}

}  // namespace
