// Config types: derived figures of the test models against the real golden files, and a
// user-defined variant whose derived numbers follow its own members.
#include <dsv4/config/mini.hpp>
#include <dsv4/config/pro.hpp>
#include <dsv4/io/tensor_names.hpp>

#include <gtest/gtest.h>

namespace {

// A research variant defined here: fewer layers, another pattern, more experts, 7 Sinkhorn rounds.
struct variant_config : dsv4::FlashMiniConfig {
    static constexpr int n_layers = 5;
    static constexpr std::array<int, 6> compress_ratios = {4, 4, 128, 0, 128, 4};
    static constexpr int n_routed_experts = 16;
    static constexpr int hc_sinkhorn_iters = 7;
};
static_assert(dsv4::valid<variant_config>());

TEST(Config, FlashAndProAliasesCarryPublishedValues) {
    constexpr auto f = dsv4::flash_shape;
    EXPECT_EQ(f.dim, 4096);
    EXPECT_EQ(f.n_layers, 43);
    EXPECT_EQ(f.ratio(43), 0);  // MTP block is window-only
    EXPECT_EQ(f.ratio(2), 4);
    EXPECT_EQ(f.ratio(3), 128);
    constexpr auto p = dsv4::pro_shape;
    EXPECT_EQ(p.dim, 7168);
    EXPECT_EQ(p.ratio(0), 128);
    EXPECT_EQ(p.n_routed_experts, 384);
    EXPECT_EQ(p.hc_mix(), 24);
    EXPECT_EQ(p.group_in_dim(), 4096);
}

TEST(Config, ReleaseTensorListMatchesDerivedTotals) {
    // Two independent walks (constexpr counting and the name list) must agree.
    for (const auto& s : {dsv4::flash_shape, dsv4::pro_shape, dsv4::shape_of<dsv4::FlashMiniFp8Config>(),
                          dsv4::shape_of<dsv4::ProMiniConfig>(), dsv4::shape_of<variant_config>()}) {
        const auto specs = dsv4::release_tensor_specs(s);
        int64_t bytes = 0;
        for (const auto& t : specs) {
            int64_t n = dsv4::dtype_size(t.type);
            for (auto d : t.shape) n *= d;
            bytes += n;
        }
        const auto totals = dsv4::release_checkpoint(s);
        EXPECT_EQ(int64_t(specs.size()), totals.tensors());
        EXPECT_EQ(bytes, totals.bytes());
    }
}

TEST(Config, VariantDerivedNumbersFollowItsMembers) {
    constexpr auto v = dsv4::shape_of<variant_config>();
    constexpr auto base = dsv4::shape_of<dsv4::FlashMiniConfig>();
    static_assert(v.n_layers == 5 && v.hc_sinkhorn_iters == 7 && v.n_routed_experts == 16);
    // by hand: per layer the routed experts hold 3 * I * D params each
    constexpr int64_t per_expert = 3LL * 32 * 64;
    EXPECT_EQ(dsv4::release_checkpoint(v).main.routed_params, 5 * 16 * per_expert);
    EXPECT_EQ(dsv4::release_checkpoint(base).main.routed_params, 3 * 8 * per_expert);
    // KV entries at 1024 tokens: CSA 4+4 layers: 64 + 256 each; HCA: 64 + 8; window: 64
    const auto kv = dsv4::kv_entries(v, 1024);
    EXPECT_EQ(kv.main_entries, 2 * (64 + 256) + 2 * (64 + 8) + 64);
    EXPECT_EQ(kv.indexer_entries, 2 * 256);
}

TEST(Config, ValidateRejectsBrokenShapes) {
    auto s = dsv4::flash_shape;
    s.o_groups = 7;
    EXPECT_EQ(dsv4::validate(s), "n_heads must be a multiple of o_groups");
    const std::string_view layout =
        "each layer's compress ratio must be 0 for a window layer and in [1, 1024] for a CSA or HCA layer";
    s = dsv4::flash_shape;
    s.compress_ratios[0] = 4;  // layer 0 stays a window layer
    EXPECT_EQ(dsv4::validate(s), layout);
    s = dsv4::flash_shape;
    s.compress_ratios[3] = 2048;
    EXPECT_EQ(dsv4::validate(s), layout);
    s = dsv4::flash_shape;
    s.compress_ratios[3] = 16;  // an HCA layer of another ratio is valid
    EXPECT_EQ(dsv4::validate(s), "");
    s.attention_kinds[3] = dsv4::attention_kind::csa;  // and so is a CSA layer of it
    EXPECT_EQ(dsv4::validate(s), "");
    s = dsv4::flash_shape;
    s.n_activated_experts = 300;
    EXPECT_FALSE(dsv4::validate(s).empty());
}

TEST(Config, BenchMiniMatchesItsPublishedParameterCount) {
    constexpr auto b = dsv4::shape_of<dsv4::BenchMiniConfig>();
    // 1.136 B parameters without MTP, 0.805 B of them routed experts (bench README)
    EXPECT_EQ(dsv4::total_params(b) / 1'000'000, 1136);
    EXPECT_EQ(dsv4::release_checkpoint(b).main.routed_params / 1'000'000, 805);
}

}  // namespace
