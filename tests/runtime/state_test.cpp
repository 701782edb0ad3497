// Sequence state control against the golden data: chunked prefill, rewind (through marks
// and from scratch), save/load to a file, in-memory snapshots, and one model shared by
// sequences on several threads.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/runtime/sampling.hpp>
#include <dsv4/runtime/state_file.hpp>

#include "../support/golden.hpp"
#include "../support/test_util.hpp"

#include <thread>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::values;
using dsv4::testing::floats_of;
using dsv4::testing::golden;
using dsv4::testing::ints_of;
using dsv4::testing::slice;

class GoldenState : public ::testing::Test {
protected:
    dsv4::model<dsv4::FlashMiniConfig> m{golden("flash-mini"), {.threads = 2}};
    dsv4::safetensors_file exp{golden("flash-mini/expected.safetensors")};
    std::vector<std::vector<int32_t>> prompts = dsv4::testing::prompts_of(golden("flash-mini/tokens.json"));
    const size_t V = 256, B = 2;
    std::vector<float> last = floats_of(exp.at("prefill.logits_last"));
    std::vector<float> dec = floats_of(exp.at("decode.logits"));
    std::vector<int64_t> inputs = ints_of(exp.at("decode.input_tokens"));

    int32_t input(size_t step, size_t row) const { return int32_t(inputs[step * B + row]); }
    std::vector<float> expected_decode(size_t step, size_t row) const { return slice(dec, (step * B + row) * V, V); }
    std::vector<float> step(dsv4::sequence_state& seq, size_t j, size_t row) const {
        const int32_t t = input(j, row);
        return values(m.forward(seq, std::span<const int32_t>(&t, 1)).logits);
    }
};

TEST_F(GoldenState, ChunkedPrefillMatchesReference) {
    for (size_t row = 0; row < B; ++row) {
        auto seq = m.new_sequence(1024);
        const auto& p = prompts[row];
        std::vector<float> logits;
        size_t at = 0;
        for (size_t n : {7, 128, 165}) {
            logits = values(m.forward(seq, std::span(p).subspan(at, n)).logits);
            at += n;
        }
        EXPECT_TRUE(close_to(logits, slice(last, row * V, V))) << "row " << row;
        for (size_t j = 0; j < 8; ++j) EXPECT_TRUE(close_to(step(seq, j, row), expected_decode(j, row))) << "step " << j;
    }
}

TEST_F(GoldenState, RewindThroughAMarkAndFromScratch) {
    auto seq = m.new_sequence(1024);
    m.forward(seq, prompts[0]);
    seq.mark();
    for (size_t j = 0; j < 8; ++j) step(seq, j, 0);
    const int64_t P = int64_t(prompts[0].size());
    m.rewind(seq, P + 3);  // from the mark at P, re-feeds three tokens
    EXPECT_EQ(seq.position(), P + 3);
    for (size_t j = 3; j < 8; ++j) EXPECT_TRUE(close_to(step(seq, j, 0), expected_decode(j, 0))) << "step " << j;
    m.rewind(seq, P - 10);  // before every mark: recomputed from the empty state
    EXPECT_EQ(seq.position(), P - 10);
    const auto again = m.forward(seq, std::span(prompts[0]).last(10)).logits;
    EXPECT_TRUE(close_to(again, slice(last, 0, V)));
    EXPECT_DSV4_ERROR(m.rewind(seq, P + 1), "rewind", "outside");
}

TEST_F(GoldenState, SaveAndLoadThenDecodeMatchesUninterrupted) {
    dsv4::testing::temp_dir dir;
    auto seq = m.new_sequence(1024);
    m.forward(seq, prompts[1]);
    step(seq, 0, 1);
    dsv4::save_state(seq, m.shape(), dir.file("state.safetensors"));
    auto loaded = dsv4::load_state(m.shape(), dir.file("state.safetensors"));
    EXPECT_EQ(loaded.position(), seq.position());
    EXPECT_EQ(loaded.tokens(), seq.tokens());
    for (size_t j = 1; j < 8; ++j) EXPECT_TRUE(close_to(step(loaded, j, 1), expected_decode(j, 1))) << "step " << j;
    // another model shape refuses it
    EXPECT_DSV4_ERROR(dsv4::load_state(dsv4::shape_of<dsv4::ProMiniConfig>(), dir.file("state.safetensors")),
                      "state.safetensors", "saved for the model shape with fingerprint");
}

TEST_F(GoldenState, InMemorySnapshotIsIndependent) {
    auto seq = m.new_sequence(1024);
    m.forward(seq, prompts[0]);
    const dsv4::sequence_state snapshot = seq;
    for (size_t j = 0; j < 4; ++j) step(seq, j, 0);
    auto resumed = snapshot;
    for (size_t j = 0; j < 8; ++j) EXPECT_TRUE(close_to(step(resumed, j, 0), expected_decode(j, 0))) << "step " << j;
    EXPECT_EQ(snapshot.position(), int64_t(prompts[0].size()));
}

TEST_F(GoldenState, SequencesOnManyThreadsEqualSequentialRuns) {
    const size_t N = 4;
    std::vector<std::vector<int32_t>> ps;
    for (size_t i = 0; i < N; ++i) ps.push_back(std::vector<int32_t>(prompts[i % 2].begin() + long(i * 10), prompts[i % 2].end()));
    auto run = [&](size_t i) {
        auto seq = m.new_sequence(512);
        auto out = values(m.forward(seq, ps[i]).logits);
        for (int j = 0; j < 5; ++j) {
            const int32_t t = dsv4::argmax(out.data(), V);
            const auto d = values(m.forward(seq, std::span<const int32_t>(&t, 1)).logits);
            out.insert(out.end(), d.begin(), d.end());
        }
        return out;
    };
    std::vector<std::vector<float>> sequential(N), concurrent(N);
    for (size_t i = 0; i < N; ++i) sequential[i] = run(i);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < N; ++i) threads.emplace_back([&, i] { concurrent[i] = run(i); });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < N; ++i) EXPECT_EQ(concurrent[i], sequential[i]) << "sequence " << i;
}

TEST(StateFile, BadFilesAreClearErrors) {
    dsv4::testing::temp_dir dir;
    const auto s = dsv4::shape_of<dsv4::FlashMiniConfig>();
    dsv4::write_safetensors(dir.file("x.safetensors"), {dsv4::tensor_to_write::from<float>("a", dsv4::dtype::f32, {1}, {1})});
    EXPECT_DSV4_ERROR(dsv4::load_state(s, dir.file("x.safetensors")), "x.safetensors", "not a dsv4 sequence state");
    EXPECT_DSV4_ERROR(dsv4::load_state(s, dir.file("missing.safetensors")), "missing.safetensors", "cannot open");
}

// A state of FlashMiniConfig's shape (compress ratios 0, 4, 128; MTP block 0) at position 9,
// MTP position 8, holding what a model leaves there: 9 / 4 = 2 compressed entries and 2
// indexer keys on the CSA layer 1, none on the others (128 > 9, ratio 0).
dsv4::sequence_state position_9_state() {
    const auto s = dsv4::shape_of<dsv4::FlashMiniConfig>();
    dsv4::sequence_state seq(s, 64);
    seq.layers()[1].compressed.assign(2 * 64, 0.5f);
    seq.layers()[1].index_keys.assign(2 * 32, -0.5f);
    seq.tokens_mut() = {5, 17, 200, 3, 3, 0, 255, 9, 12};
    seq.set_positions(9, 8);
    return seq;
}

// Rewrites a saved state with metadata `key` set to `value` (tensors unchanged).
void resave_with_metadata(const std::string& path, const std::string& key, const std::string& value) {
    std::vector<dsv4::tensor_to_write> tensors;
    std::map<std::string, std::string> metadata;
    {
        const dsv4::safetensors_file f(path);
        for (const auto& t : f.tensors()) {
            const auto* b = reinterpret_cast<const std::byte*>(t.data);
            tensors.push_back({t.name, t.type, t.shape, std::vector<std::byte>(b, b + t.nbytes)});
        }
        metadata = f.metadata();
    }
    metadata[key] = value;
    dsv4::write_safetensors(path, std::move(tensors), metadata);
}

// Found by fuzz_state_file: load_state accepted states the model cannot continue from.
TEST(StateFile, InconsistentStatesAreRefusedNamingTheTensor) {
    dsv4::testing::temp_dir dir;
    const auto s = dsv4::shape_of<dsv4::FlashMiniConfig>();
    const std::string path = dir.file("state.safetensors");
    dsv4::save_state(position_9_state(), s, path);
    const auto loaded = dsv4::load_state(s, path);
    EXPECT_EQ(loaded.position(), 9);
    EXPECT_EQ(loaded.mtp_position(), 8);
    EXPECT_EQ(loaded.tokens(), (std::vector<int32_t>{5, 17, 200, 3, 3, 0, 255, 9, 12}));
    EXPECT_EQ(loaded.layers()[1].compressed.size(), 2u * 64);

    auto save_edited = [&](auto&& edit) {
        dsv4::sequence_state seq = position_9_state();
        edit(seq);
        dsv4::save_state(seq, s, path);
    };
    save_edited([](auto& q) { q.layers()[1].index_keys.resize(32); });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "layers.1.index_keys", "implies 2 entries");
    save_edited([](auto& q) { q.layers()[0].compressed.assign(64, 1.0f); });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "layers.0.compressed", "ratio 0", "implies 0");
    save_edited([](auto& q) { q.mtp_layers()[0].compressed.assign(64, 1.0f); });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "mtp.0.compressed", "implies 0");
    save_edited([](auto& q) { q.layers()[2].index_keys.assign(32, 1.0f); });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "layers.2.index_keys", "implies 0");
    save_edited([](auto& q) { q.set_positions(9, 10); });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "10 (MTP)", "MTP <= main");
    save_edited([](auto& q) { q.tokens_mut()[3] = -7; });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "'tokens' value 3 is -7", "[0, 256)");
    save_edited([](auto& q) { q.tokens_mut()[8] = 256; });
    EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "'tokens' value 8 is 256");
}

// std::stoll read "9abc" as 9 and " 9" as 9: metadata numbers are now whole decimal integers.
TEST(StateFile, MetadataNumbersMustBeWholeDecimals) {
    dsv4::testing::temp_dir dir;
    const auto s = dsv4::shape_of<dsv4::FlashMiniConfig>();
    const std::string path = dir.file("state.safetensors");
    for (const char* bad : {"9abc", " 9", "9 ", "", "0x9", "99999999999999999999"}) {
        dsv4::save_state(position_9_state(), s, path);
        resave_with_metadata(path, "position", bad);
        EXPECT_DSV4_ERROR(dsv4::load_state(s, path), "state.safetensors", "metadata 'position'", "not a decimal integer");
    }
    dsv4::save_state(position_9_state(), s, path);
    resave_with_metadata(path, "capacity", "9");  // a full sequence is a valid state
    EXPECT_EQ(dsv4::load_state(s, path).capacity(), 9);
}

}  // namespace
