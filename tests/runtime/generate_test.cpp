// Generation, sampling and the eval replay against the golden data.
#include <dsv4/config/mini.hpp>
#include <dsv4/runtime/eval.hpp>
#include <dsv4/runtime/generate.hpp>
#include <dsv4/io/random_checkpoint.hpp>
#include <dsv4/runtime/known_models.hpp>

#include "../support/golden.hpp"

#include <algorithm>
#include <random>
#include "../support/test_util.hpp"

namespace {

using dsv4::testing::close_to;
using dsv4::testing::floats_of;
using dsv4::testing::golden;
using dsv4::testing::ints_of;

nlohmann::json tokens_json(const std::string& f) { return nlohmann::json::parse(dsv4::read_text_file(golden(f))); }

TEST(Generate, GreedyBatchReproducesTheGoldenContinuations) {
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"));
    for (const char* f : {"flash-mini/tokens.json", "flash-mini/tokens_short.json"}) {
        const auto j = tokens_json(f);
        const auto prompts = j.at("prompts").get<std::vector<std::vector<int32_t>>>();
        const auto cont = j.at("greedy_continuation").get<std::vector<std::vector<int32_t>>>();
        dsv4::generate_options opt;
        opt.max_new_tokens = int(cont[0].size());
        opt.eos = std::nullopt;
        std::vector<std::vector<int32_t>> streamed(prompts.size());
        const auto out = dsv4::generate(m, prompts, opt, [&](size_t b, int32_t t) { streamed[b].push_back(t); });
        for (size_t b = 0; b < prompts.size(); ++b) {
            EXPECT_EQ(out[b].tokens, cont[b]) << f << " row " << b;
            EXPECT_EQ(streamed[b], cont[b]);
        }
    }
}

TEST(Generate, StopsOnEos) {
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"));
    const auto j = tokens_json("flash-mini/tokens_short.json");
    const auto prompts = j.at("prompts").get<std::vector<std::vector<int32_t>>>();
    const auto cont = j.at("greedy_continuation").get<std::vector<std::vector<int32_t>>>();
    dsv4::generate_options opt;
    opt.max_new_tokens = 50;
    opt.eos = cont[0][3];  // 95: the fourth greedy token
    const auto out = dsv4::generate(m, prompts, opt);
    EXPECT_TRUE(out[0].hit_eos);
    EXPECT_EQ(out[0].tokens, std::vector<int32_t>(cont[0].begin(), cont[0].begin() + 4));
    opt.eos = 999;
    EXPECT_DSV4_ERROR(dsv4::generate(m, prompts, opt), "eos id 999");
    EXPECT_DSV4_ERROR(dsv4::generate(m, {{}}, {}), "prompt 0 is empty");
}

TEST(Generate, TemperatureSamplingIsSeededGumbelMax) {
    // hand case: with E ~ Exp(1) draws, argmax(p / E) equals a multinomial draw; check the
    // empirical frequencies of a 3-way distribution and reproducibility by seed
    const float logits[3] = {0.0f, std::log(2.0f), std::log(7.0f)};  // p = 0.1, 0.2, 0.7
    std::mt19937_64 rng(1);
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 20000; ++i) counts[dsv4::sample_token(logits, 3, 1.0f, rng)]++;
    EXPECT_NEAR(counts[0] / 20000.0, 0.1, 0.01);
    EXPECT_NEAR(counts[1] / 20000.0, 0.2, 0.01);
    EXPECT_NEAR(counts[2] / 20000.0, 0.7, 0.012);
    EXPECT_EQ(dsv4::sample_token(logits, 3, 0.0f, rng), 2);
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"));
    dsv4::generate_options opt;
    opt.temperature = 1.0f;
    opt.max_new_tokens = 20;
    opt.eos = std::nullopt;
    const auto a = dsv4::generate(m, {{1, 2, 3}}, opt), b = dsv4::generate(m, {{1, 2, 3}}, opt);
    EXPECT_EQ(a[0].tokens, b[0].tokens);
    opt.seed = 5;
    EXPECT_NE(dsv4::generate(m, {{1, 2, 3}}, opt)[0].tokens, a[0].tokens);
}

// Forced tokens are taken instead of sampled and draw nothing from the random stream: the
// first sampled token is the one a hand-written loop draws with a fresh generator after
// feeding the prompt and the forced tokens.
TEST(Generate, ForcedTokensThenSampling) {
    const dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 2});
    const std::vector<int32_t> prompt = {1, 2, 3}, forced = {40, 41, 42};
    dsv4::generate_options opt;
    opt.temperature = 1.0f;
    opt.max_new_tokens = 6;
    opt.eos = std::nullopt;
    opt.forced = {forced};
    const auto g = dsv4::generate(m, {prompt}, opt)[0];
    ASSERT_EQ(g.tokens.size(), 6u);
    EXPECT_EQ(std::vector<int32_t>(g.tokens.begin(), g.tokens.begin() + 3), forced);
    auto seq = m.new_sequence(16);
    m.forward(seq, prompt);
    m.forward(seq, std::span(forced).subspan(0, 1));  // one token per call, as generate feeds them
    m.forward(seq, std::span(forced).subspan(1, 1));
    const auto r = m.forward(seq, std::span(forced).subspan(2, 1));
    std::mt19937_64 rng(opt.seed);
    EXPECT_EQ(g.tokens[3], dsv4::sample_token(r.logits.data(), 256, 1.0f, rng));
    opt.forced = {forced, {}};
    EXPECT_DSV4_ERROR(dsv4::generate(m, {prompt}, opt), "forced tokens for 2 prompts, but 1 prompts given");
    opt.forced = {{7, 300}};
    EXPECT_DSV4_ERROR(dsv4::generate(m, {prompt}, opt), "forced token 1 of prompt 0 has id 300");
}

// The stop condition ends a row right after the token it saw; the other rows go on.
TEST(Generate, StopConditionEndsARow) {
    const dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 2});
    dsv4::generate_options opt;
    opt.max_new_tokens = 8;
    opt.eos = std::nullopt;
    const auto free_run = dsv4::generate(m, {{1, 2, 3}, {4, 5}}, opt);
    std::vector<size_t> seen;
    opt.stop = [&](size_t row, std::span<const int32_t> tokens) {
        seen.push_back(row);
        return row == 0 && tokens.size() == 3;
    };
    const auto stopped = dsv4::generate(m, {{1, 2, 3}, {4, 5}}, opt);
    EXPECT_TRUE(stopped[0].stopped);
    EXPECT_FALSE(stopped[1].stopped);
    EXPECT_EQ(stopped[0].tokens, std::vector<int32_t>(free_run[0].tokens.begin(), free_run[0].tokens.begin() + 3));
    EXPECT_EQ(stopped[1].tokens, free_run[1].tokens);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 0u), 3);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), 8);
}

TEST(Eval, ReplayMatchesExpectedFiles) {
    for (const auto& [folder, tokens, expected] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"flash-mini", "tokens_short.json", "expected_short.safetensors"},
             {"flash-mini-fp8", "tokens.json", "expected.safetensors"}}) {
        auto m = dsv4::open_model(golden(folder));
        const auto out = dsv4::run_eval(*m, dsv4::read_eval_case(golden(folder + "/" + tokens)));
        dsv4::safetensors_file exp(golden(folder + "/" + expected));
        size_t compared = 0;
        for (const auto& t : out) {
            const auto* e = exp.find(t.name);
            if (!e) continue;
            ++compared;
            EXPECT_EQ(e->shape, t.shape) << t.name;
            if (t.type == dsv4::dtype::f32) {
                std::vector<float> got(t.bytes.size() / 4);
                std::memcpy(got.data(), t.bytes.data(), t.bytes.size());
                EXPECT_TRUE(close_to(got, floats_of(*e))) << t.name;
            } else {
                std::vector<int64_t> got(t.bytes.size() / 8);
                std::memcpy(got.data(), t.bytes.data(), t.bytes.size());
                EXPECT_EQ(got, ints_of(*e)) << t.name;
            }
        }
        EXPECT_GE(compared, 8u) << folder;
    }
}

}  // namespace
