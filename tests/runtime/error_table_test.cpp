// The table of malformed inputs: each case expects a dsv4::error naming the file / tensor /
// field / argument and the fault, and checks nothing was half-done (no model, no partial
// file, an unchanged sequence state). Parser-level cases of safetensors and the shard index
// are in tests/io/; this file covers them end to end through model loading and running.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/runtime/generate.hpp>

#include "../support/test_util.hpp"

#include <fstream>

namespace {

using dsv4::testing::golden;
namespace fs = std::filesystem;

// A writable copy of a golden checkpoint folder.
struct checkpoint_copy {
    dsv4::testing::temp_dir dir;
    explicit checkpoint_copy(const std::string& name) {
        for (const auto& e : fs::directory_iterator(golden(name)))
            if (e.path().extension() == ".json" || e.path().filename().string().rfind("model", 0) == 0)
                fs::copy_file(e.path(), dir.path() / e.path().filename());
    }
    std::string folder() const { return dir.path().string(); }
    std::string file(const std::string& f) const { return (dir.path() / f).string(); }
    // Overwrites bytes of a tensor's data in its file.
    void patch(const std::string& shard, const std::string& tensor, size_t byte, const std::vector<uint8_t>& bytes) {
        size_t file_offset = 0;
        {
            dsv4::mapped_file m(file(shard));
            const auto header = dsv4::parse_safetensors(m.bytes(), shard);
            for (const auto& t : header.tensors)
                if (t.name == tensor) file_offset = size_t(t.data - m.data());
        }
        ASSERT_NE(file_offset, 0u) << tensor;
        std::fstream io(file(shard), std::ios::binary | std::ios::in | std::ios::out);
        io.seekp(long(file_offset + byte));
        io.write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
    }
};

using flash = dsv4::model<dsv4::FlashMiniConfig>;
using flash_fp8 = dsv4::model<dsv4::FlashMiniFp8Config>;

TEST(ErrorTable, TruncatedCheckpointFile) {
    checkpoint_copy c("flash-mini");
    fs::resize_file(c.file("model.safetensors"), fs::file_size(c.file("model.safetensors")) - 100);
    EXPECT_DSV4_ERROR(flash(c.folder()), "model.safetensors", "out of range");
}

TEST(ErrorTable, HeaderLengthPastTheEndAndAbsurd) {
    checkpoint_copy c("flash-mini");
    for (uint64_t n : {uint64_t(1) << 40, uint64_t(5'000'000)}) {
        std::fstream io(c.file("model.safetensors"), std::ios::binary | std::ios::in | std::ios::out);
        io.write(reinterpret_cast<const char*>(&n), 8);
        io.close();
        EXPECT_DSV4_ERROR(flash(c.folder()), "model.safetensors", "header length");
    }
}

TEST(ErrorTable, InvalidJsonHeader) {
    checkpoint_copy c("flash-mini");
    std::fstream io(c.file("model.safetensors"), std::ios::binary | std::ios::in | std::ios::out);
    io.seekp(8);
    io.write("{{{", 3);
    io.close();
    EXPECT_DSV4_ERROR(flash(c.folder()), "model.safetensors", "not valid JSON");
}

TEST(ErrorTable, MissingTensor) {
    checkpoint_copy c("flash-mini-fp8");
    // drop a tensor from the index: the shard still holds it, so remove it from both
    std::ifstream in(c.file("model.safetensors.index.json"));
    auto j = nlohmann::json::parse(in);
    in.close();
    j["weight_map"].erase("layers.1.attn.kv_norm.weight");
    std::ofstream(c.file("model.safetensors.index.json")) << j.dump();
    EXPECT_DSV4_ERROR(flash_fp8(c.folder()), "layers.1.attn.kv_norm.weight", "not listed");
}

TEST(ErrorTable, ShardNamedInIndexAbsent) {
    checkpoint_copy c("flash-mini-fp8");
    fs::remove(c.file("model-00002-of-00002.safetensors"));
    EXPECT_DSV4_ERROR(flash_fp8(c.folder()), "model-00002-of-00002.safetensors", "does not exist");
}

TEST(ErrorTable, ExtraUnexpectedTensorIsAnErrorUnlessAllowed) {
    checkpoint_copy c("flash-mini");
    {
        dsv4::safetensors_file f(c.file("model.safetensors"));
        std::vector<dsv4::tensor_to_write> all;
        for (const auto& t : f.tensors()) {
            dsv4::tensor_to_write w{t.name, t.type, t.shape, {}};
            w.bytes.assign(t.data, t.data + t.nbytes);
            all.push_back(std::move(w));
        }
        all.push_back(dsv4::tensor_to_write::from<float>("layers.0.attn.extra", dsv4::dtype::f32, {2}, {1, 2}));
        dsv4::write_safetensors(c.file("model.safetensors.new"), std::move(all));
    }
    fs::rename(c.file("model.safetensors.new"), c.file("model.safetensors"));
    EXPECT_DSV4_ERROR(flash(c.folder()), "1 tensor(s)", "'layers.0.attn.extra'", "allow_unexpected_tensors");
    flash ok(c.folder(), {.allow_unexpected_tensors = true});
    EXPECT_EQ(ok.unused_tensors(), std::vector<std::string>{"layers.0.attn.extra"});
}

TEST(ErrorTable, WrongShapeAndWrongDtype) {
    // ProMini's checkpoint read as FlashMini (config check off): first tensor with a different shape
    EXPECT_DSV4_ERROR(flash(golden("pro-mini"), {.check_config_json = false}), "pro-mini", "has shape", "expected");
    checkpoint_copy c("flash-mini");
    std::ofstream(c.file("model.safetensors"), std::ios::trunc).close();
    dsv4::write_safetensors(c.file("model.safetensors"),
                            {dsv4::tensor_to_write::from<int32_t>("embed.weight", dsv4::dtype::i32, {256, 64},
                                                                  std::vector<int32_t>(256 * 64))});
    EXPECT_DSV4_ERROR(flash(c.folder()), "'embed.weight'", "dtype I32", "expected F32 or BF16");
}

TEST(ErrorTable, ConfigJsonMismatch) {
    EXPECT_DSV4_ERROR(flash(golden("pro-mini")), "config.json", "does not match the compiled config", "FlashMiniConfig",
                      "'dim' is 96");
}

TEST(ErrorTable, E8m0NaNScale) {
    checkpoint_copy c("flash-mini-fp8");
    std::string shard = "model-00001-of-00002.safetensors";
    if (!dsv4::safetensors_file(c.file(shard)).find("layers.0.attn.wq_b.scale")) shard = "model-00002-of-00002.safetensors";
    c.patch(shard, "layers.0.attn.wq_b.scale", 1, {0xFF});
    EXPECT_DSV4_ERROR(flash_fp8(c.folder()), "'layers.0.attn.wq_b.scale'", "scale 1", "NaN code 255");
}

TEST(ErrorTable, NonFiniteWeightsWhenAskedToValidate) {
    checkpoint_copy c("flash-mini");
    const float inf = INFINITY;
    std::vector<uint8_t> bytes(4);
    std::memcpy(bytes.data(), &inf, 4);
    c.patch("model.safetensors", "layers.2.attn.wkv.weight", 4 * 7, bytes);
    flash unchecked(c.folder());  // loads: validation is opt-in
    EXPECT_DSV4_ERROR(flash(c.folder(), {.validate_weights = true}), "'layers.2.attn.wkv.weight'", "value 7", "inf");
}

class RunErrors : public ::testing::Test {
protected:
    flash m{golden("flash-mini"), {.threads = 1}};
};

TEST_F(RunErrors, TokenIdOutOfVocabularyOrNegative) {
    auto seq = m.new_sequence(64);
    EXPECT_DSV4_ERROR(m.forward(seq, std::vector<int32_t>{1, 256}), "token 1 has id 256", "[0, 256)");
    EXPECT_DSV4_ERROR(m.forward(seq, std::vector<int32_t>{-3}), "token 0 has id -3");
    EXPECT_EQ(seq.position(), 0);  // nothing consumed
}

TEST_F(RunErrors, PromptLongerThanCapacity) {
    auto seq = m.new_sequence(10);
    m.forward(seq, std::vector<int32_t>(8, 5));
    EXPECT_DSV4_ERROR(m.forward(seq, std::vector<int32_t>(3, 5)), "3 tokens at position 8", "capacity of 10");
    EXPECT_EQ(seq.position(), 8);
    EXPECT_DSV4_ERROR(m.new_sequence(0), "capacity must be at least 1");
}

TEST_F(RunErrors, ZeroLengthPrompt) {
    auto seq = m.new_sequence(10);
    EXPECT_DSV4_ERROR(m.forward(seq, std::vector<int32_t>{}), "no tokens given");
    EXPECT_DSV4_ERROR(dsv4::generate(m, {{}}, {}), "prompt 0 is empty");
}

TEST_F(RunErrors, DecodeAfterEosPolicy) {
    // generate() ends a row at EOS: the EOS token is reported, never fed back
    dsv4::generate_options opt;
    opt.max_new_tokens = 10;
    opt.eos = 196;  // the first greedy token of this prompt
    const auto out = dsv4::generate(m, {{182, 178, 17, 28, 152}}, opt);
    EXPECT_TRUE(out[0].hit_eos);
    EXPECT_EQ(out[0].tokens, std::vector<int32_t>{196});
}

TEST_F(RunErrors, ThreadCountZeroOrNegative) {
    EXPECT_DSV4_ERROR(dsv4::context(0), "thread count must be at least 1, got 0");
    EXPECT_DSV4_ERROR(dsv4::context(-2), "got -2");
}

TEST_F(RunErrors, MtpArgumentsChecked) {
    auto seq = m.new_sequence(64);
    const auto wrong = xt::xtensor<float, 3>::from_shape({1, 2, 5});
    EXPECT_DSV4_ERROR(m.mtp_forward(seq, wrong, std::vector<int32_t>{1}), "hidden has shape [1, 2, 5], expected [1, 4, 64]");
    const auto one_token = xt::xtensor<float, 3>::from_shape({1, 4, 64});
    EXPECT_DSV4_ERROR(m.mtp_forward(seq, one_token, std::vector<int32_t>{1}, {}, nullptr, 3), "MTP block 3");
}

}  // namespace
