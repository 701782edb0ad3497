// Checkpoint folders: every vendored golden checkpoint holds exactly the official tensor
// list (names, dtypes, shapes) of its config; expected-output files have the documented
// tensors; sharded-index faults are reported by file and tensor.
#include <dsv4/config/mini.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/io/tensor_names.hpp>

#include "../support/test_util.hpp"

#include <fstream>
#include <set>

namespace {

using dsv4::dtype;
using dsv4::testing::golden;

// Test layouts store everything unquantised in f32 (tid2eid stays I64).
void expect_exact_tensor_list(const dsv4::checkpoint& ck, const dsv4::model_shape& s) {
    const auto specs = dsv4::release_tensor_specs(s);
    std::set<std::string> expected;
    for (const auto& spec : specs) {
        expected.insert(spec.name);
        const auto* t = ck.find(spec.name);
        ASSERT_NE(t, nullptr) << "missing " << spec.name;
        EXPECT_EQ(t->type, spec.type) << spec.name;
        EXPECT_EQ(t->shape, spec.shape) << spec.name;
    }
    for (const auto& n : ck.names()) EXPECT_TRUE(expected.count(n)) << "unexpected tensor " << n;
    EXPECT_EQ(int64_t(ck.total_bytes()), dsv4::release_checkpoint(s).bytes());
}

TEST(GoldenCheckpoints, FlashMiniHasTheOfficialTensorList) {
    dsv4::checkpoint ck(golden("flash-mini"));
    EXPECT_EQ(ck.size(), 208u);
    expect_exact_tensor_list(ck, dsv4::shape_of<dsv4::FlashMiniConfig>());
}

TEST(GoldenCheckpoints, ProMiniHasTheOfficialTensorList) {
    dsv4::checkpoint ck(golden("pro-mini"));
    expect_exact_tensor_list(ck, dsv4::shape_of<dsv4::ProMiniConfig>());
}

TEST(GoldenCheckpoints, FlashMiniFp8ShardedReleaseLayout) {
    dsv4::checkpoint ck(golden("flash-mini-fp8"));
    EXPECT_EQ(ck.shards().size(), 2u);
    expect_exact_tensor_list(ck, dsv4::shape_of<dsv4::FlashMiniFp8Config>());
    // spot checks against the golden README: wq_b has 2 row blocks of scales
    EXPECT_EQ(ck.at("layers.0.attn.wq_b.scale").shape, (std::vector<int64_t>{2, 1}));
    EXPECT_EQ(ck.at("layers.1.ffn.experts.0.w1.weight").type, dtype::i8);
    EXPECT_EQ(ck.at("layers.1.ffn.experts.0.w1.scale").shape, (std::vector<int64_t>{32, 2}));
}

TEST(GoldenCheckpoints, ExpectedFilesHaveTheDocumentedTensors) {
    struct want {
        const char* file;
        const char* name;
        dtype type;
        std::vector<int64_t> shape;
    };
    const std::vector<want> wants = {
        {"flash-mini/expected.safetensors", "prefill.logits_last", dtype::f32, {2, 256}},
        {"flash-mini/expected.safetensors", "prefill.logits_all", dtype::f32, {1, 300, 256}},
        {"flash-mini/expected.safetensors", "prefill.argmax", dtype::i64, {2}},
        {"flash-mini/expected.safetensors", "decode.logits", dtype::f32, {8, 2, 256}},
        {"flash-mini/expected.safetensors", "decode.input_tokens", dtype::i64, {8, 2}},
        {"flash-mini/expected.safetensors", "mtp.decode.logits", dtype::f32, {8, 2, 256}},
        {"flash-mini/expected.safetensors", "debug.prefill.block_out_last", dtype::f32, {3, 2, 4, 64}},
        {"flash-mini/expected.safetensors", "debug.prefill.layers.0.hc_attn_comb", dtype::f32, {2, 300, 4, 4}},
        {"flash-mini/expected.safetensors", "debug.prefill.layers.1.indexer_mask", dtype::u8, {2, 300, 75}},
        {"flash-mini/expected.safetensors", "debug.decode.layers.1.indexer_topk", dtype::i32, {8, 2, 16}},
        {"flash-mini/expected.safetensors", "debug.final.layers.2.compressed_kv", dtype::f32, {2, 2, 64}},
        {"flash-mini/expected_short.safetensors", "decode.logits", dtype::f32, {136, 1, 256}},
        {"pro-mini/expected.safetensors", "prefill.logits_last", dtype::f32, {2, 384}},
        {"pro-mini/expected_shared_clamp.safetensors", "decode.logits", dtype::f32, {8, 2, 384}},
        {"flash-mini-fp8/expected.safetensors", "prefill.logits_last", dtype::f32, {2, 256}},
        {"flash-mini-fp8/dequant_check.safetensors", "layers.0.attn.wq_b.weight", dtype::f32, {256, 64}},
        {"flash-mini-fp8/dequant_check.safetensors", "layers.1.ffn.experts.1.w1.weight", dtype::f32, {32, 64}},
    };
    for (const auto& w : wants) {
        dsv4::safetensors_file f(golden(w.file));
        const auto& t = f.at(w.name);
        EXPECT_EQ(t.type, w.type) << w.file << " " << w.name;
        EXPECT_EQ(t.shape, w.shape) << w.file << " " << w.name;
    }
}

// ---- sharded index faults, on a small two-shard checkpoint made here
class ShardedCheckpoint : public ::testing::Test {
protected:
    dsv4::testing::temp_dir dir;
    void SetUp() override {
        dsv4::write_safetensors(dir.file("model-s1.safetensors"),
                                {dsv4::tensor_to_write::from<float>("a", dtype::f32, {2}, {1, 2})});
        dsv4::write_safetensors(dir.file("model-s2.safetensors"),
                                {dsv4::tensor_to_write::from<float>("b", dtype::f32, {1, 2}, {3, 4})});
    }
    void index(const std::string& weight_map) {
        std::ofstream(dir.file("model.safetensors.index.json")) << R"({"metadata": {}, "weight_map": )" << weight_map << "}";
    }
};

TEST_F(ShardedCheckpoint, ReadsThroughTheIndex) {
    index(R"({"a": "model-s1.safetensors", "b": "model-s2.safetensors"})");
    dsv4::checkpoint ck(dir.path().string());
    EXPECT_EQ(ck.size(), 2u);
    EXPECT_EQ(ck.at("b", dtype::f32, {1, 2}).as<float>(dtype::f32)[1], 4.0f);
    EXPECT_DSV4_ERROR(ck.at("b", dtype::f32, {2}), "model-s2.safetensors", "'b'", "shape [1, 2]", "expected [2]");
    EXPECT_DSV4_ERROR(ck.at("b", dtype::bf16, {1, 2}), "'b'", "dtype F32", "expected BF16");
    EXPECT_DSV4_ERROR(ck.at("zzz"), "no tensor 'zzz'");
}

TEST_F(ShardedCheckpoint, ShardNamedInIndexIsAbsent) {
    index(R"({"a": "model-s1.safetensors", "b": "model-s3.safetensors"})");
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "model.safetensors.index.json", "'model-s3.safetensors'",
                      "does not exist");
}

TEST_F(ShardedCheckpoint, IndexEntryMissingFromShard) {
    index(R"({"a": "model-s1.safetensors", "b": "model-s2.safetensors", "c": "model-s2.safetensors"})");
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "model-s2.safetensors", "'c'", "is missing");
}

TEST_F(ShardedCheckpoint, ShardTensorNotInIndex) {
    index(R"({"a": "model-s1.safetensors"})");
    dsv4::write_safetensors(dir.file("model-s1.safetensors"),
                            {dsv4::tensor_to_write::from<float>("a", dtype::f32, {2}, {1, 2}),
                             dsv4::tensor_to_write::from<float>("extra", dtype::f32, {1}, {5})});
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "model-s1.safetensors", "'extra'", "not listed");
}

TEST_F(ShardedCheckpoint, IndexNotJson) {
    std::ofstream(dir.file("model.safetensors.index.json")) << "{weight_map";
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "model.safetensors.index.json", "not valid JSON");
}

TEST_F(ShardedCheckpoint, IndexEscapesTheFolder) {
    index(R"({"a": "../s1.safetensors"})");
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "'a'", "file name in the same folder");
}

TEST_F(ShardedCheckpoint, DuplicateNameAcrossShardsWithoutIndex) {
    dsv4::write_safetensors(dir.file("model-s2.safetensors"), {dsv4::tensor_to_write::from<float>("a", dtype::f32, {1}, {3})});
    EXPECT_DSV4_ERROR(dsv4::checkpoint(dir.path().string()), "'a'", "also appears");
}

// An in-memory checkpoint: the caller's tensors under the same lookups and checks.
TEST(InMemoryCheckpoint, LooksUpTheCallersMemory) {
    std::vector<float> a{1, 2, 3, 4, 5, 6};
    const std::vector<int32_t> ids{0, 1};
    auto view = [](const std::string& name, dtype type, std::vector<int64_t> shape, const void* p, size_t n) {
        return dsv4::tensor_view{name, type, std::move(shape), static_cast<const std::byte*>(p), n, {}};
    };
    const auto ck = dsv4::checkpoint::in_memory("weights in training",
                                                {view("a", dtype::f32, {2, 3}, a.data(), 24), view("t", dtype::i32, {2}, ids.data(), 8)});
    EXPECT_TRUE(ck->in_memory());
    EXPECT_EQ(ck->folder(), "weights in training");
    EXPECT_EQ(ck->names(), (std::vector<std::string>{"a", "t"}));
    EXPECT_EQ(ck->at("a", dtype::f32, {2, 3}).data, reinterpret_cast<const std::byte*>(a.data()));
    a[4] = 50;  // read in place
    EXPECT_EQ(ck->at("a").as<float>(dtype::f32)[4], 50.0f);
    EXPECT_DSV4_ERROR(ck->at("b"), "weights in training", "'b'");
    EXPECT_DSV4_ERROR(ck->at("a", dtype::f32, {3, 2}), "weights in training", "'a'", "[2, 3]", "expected [3, 2]");

    EXPECT_DSV4_ERROR(dsv4::checkpoint::in_memory("m", {view("a", dtype::f32, {2, 3}, a.data(), 20)}), "'a'", "20 bytes",
                      "need 24");
    EXPECT_DSV4_ERROR(dsv4::checkpoint::in_memory("m", {view("a", dtype::f32, {1}, a.data(), 4), view("a", dtype::f32, {1}, a.data(), 4)}),
                      "'a'", "twice");
    const auto* odd = reinterpret_cast<const std::byte*>(a.data()) + 2;
    EXPECT_DSV4_ERROR(dsv4::checkpoint::in_memory("m", {view("a", dtype::f32, {1}, odd, 4)}), "'a'", "aligned");
}

}  // namespace
