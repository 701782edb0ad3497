// The two routes to a model: a compiled config type, and a checkpoint folder's config.json
// read at run time (any valid shape, compiled or not).
#include <dsv4/config/mini.hpp>
#include <dsv4/io/random_checkpoint.hpp>
#include <dsv4/runtime/known_models.hpp>

#include "../support/random_model.hpp"
#include "../support/test_util.hpp"

#include <fstream>

namespace {

using dsv4::testing::golden;

TEST(KnownModels, GoldenFoldersAreNamedAfterTheirCompiledConfigs) {
    EXPECT_EQ(dsv4::describe_checkpoint(golden("flash-mini")).name, "FlashMiniConfig");
    EXPECT_EQ(dsv4::describe_checkpoint(golden("pro-mini")).name, "ProMiniConfig");
    EXPECT_EQ(dsv4::describe_checkpoint(golden("flash-mini-fp8")).name, "FlashMiniFp8Config");
}

// A variant no compiled type describes: other widths, CSA at ratio 8, HCA at 3, an explicit
// kind per layer in its config.json.
struct uncompiled_shape : dsv4::FlashMiniConfig {
    static constexpr int dim = 48;
    static constexpr int n_layers = 3;
    static constexpr std::array<int, 4> compress_ratios = {8, 3, 0, 0};
    static constexpr std::array<dsv4::attention_kind, 4> attention_kinds = {
        dsv4::attention_kind::csa, dsv4::attention_kind::hca, dsv4::attention_kind::window, dsv4::attention_kind::window};
    static constexpr int moe_inter_dim = 24;
};

class RunTimeRoute : public dsv4::testing::random_checkpoint_test<uncompiled_shape, 11> {};

TEST_F(RunTimeRoute, ConfigJsonAloneGivesTheCompiledModelsBits) {
    const auto described = dsv4::describe_checkpoint(dir());
    EXPECT_EQ(described.name, "config.json");
    EXPECT_EQ(dsv4::fingerprint(described.shape), dsv4::fingerprint(dsv4::shape_of<uncompiled_shape>()));
    const auto run_time = dsv4::open_model(dir(), {.threads = 2});
    const dsv4::model<uncompiled_shape> compiled(dir(), {.threads = 2});
    const auto prompt = tokens(40, 5);
    auto a = run_time->new_sequence(64), b = compiled.new_sequence(64);
    EXPECT_EQ(run_time->forward(a, prompt, {.all_logits = true}).logits, compiled.forward(b, prompt, {.all_logits = true}).logits);
    // states of the two are interchangeable: the same shape
    const int32_t next = 3;
    EXPECT_EQ(run_time->forward(b, std::span(&next, 1)).logits, compiled.forward(a, std::span(&next, 1)).logits);
}

TEST(KnownModels, ConfigJsonProblemsAreClearErrors) {
    dsv4::testing::temp_dir dir;
    auto write = [&](const nlohmann::ordered_json& j) { std::ofstream(dir.file("config.json")) << j.dump(); };
    auto j = dsv4::config_json_of(dsv4::shape_of<dsv4::FlashMiniConfig>());
    j["dim"] = 80;  // breaks no rule: a valid uncompiled shape
    write(j);
    EXPECT_EQ(dsv4::describe_checkpoint(dir.path().string()).shape.dim, 80);
    j["o_groups"] = 3;  // n_heads 4
    write(j);
    EXPECT_DSV4_ERROR(dsv4::describe_checkpoint(dir.path().string()), "config.json", "n_heads must be a multiple of o_groups");
    j = dsv4::config_json_of(dsv4::shape_of<dsv4::FlashMiniConfig>());
    j.erase("n_heads");
    j["compress_ratios"] = {0, 4};
    j["attention_kinds"] = {"window", "sparse"};
    write(j);
    EXPECT_DSV4_ERROR(dsv4::describe_checkpoint(dir.path().string()), "config.json", "'n_heads' is missing");
    j["n_heads"] = 4;
    write(j);
    EXPECT_DSV4_ERROR(dsv4::describe_checkpoint(dir.path().string()), "'compress_ratios' has 2 entries, expected one per layer");
    j["compress_ratios"] = {0, 4, 128, 0};
    write(j);
    EXPECT_DSV4_ERROR(dsv4::describe_checkpoint(dir.path().string()), "'attention_kinds' must be an array");
    j["attention_kinds"] = {"window", "window", "hca", "window"};  // a window layer with ratio 4
    write(j);
    EXPECT_DSV4_ERROR(dsv4::describe_checkpoint(dir.path().string()), "compress ratio must be 0 for a window layer");
}

}  // namespace
