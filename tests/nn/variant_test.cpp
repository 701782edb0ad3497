// A research variant defined here (other layer pattern, widths, expert count, hc streams,
// Sinkhorn iterations) on random weights: decoding token by token agrees with one
// re-prefill of the whole sequence, any chunking of the prompt gives the same logits,
// and the thread count does not change a single bit.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>

#include "../support/golden.hpp"
#include "../support/random_model.hpp"
#include "../support/test_util.hpp"

#include <random>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::slice;

struct variant_config : dsv4::FlashMiniConfig {
    static constexpr int vocab_size = 300;
    static constexpr int dim = 48;
    static constexpr int n_layers = 4;
    static constexpr int n_heads = 6;
    static constexpr int head_dim = 32;
    static constexpr int rope_head_dim = 8;
    static constexpr int q_lora_rank = 40;
    static constexpr int o_groups = 3;
    static constexpr int o_lora_rank = 24;
    static constexpr int window_size = 16;
    static constexpr std::array<int, 5> compress_ratios = {4, 128, 0, 4, 0};
    static constexpr int n_routed_experts = 10;
    static constexpr int n_activated_experts = 2;
    static constexpr int moe_inter_dim = 24;
    static constexpr int n_hash_layers = 2;
    static constexpr int index_n_heads = 5;
    static constexpr int index_head_dim = 16;
    static constexpr int index_topk = 6;
    static constexpr int hc_mult = 3;
    static constexpr int hc_sinkhorn_iters = 7;
};

class VariantModel : public dsv4::testing::random_checkpoint_test<variant_config, 7> {};

TEST_F(VariantModel, DecodeAgreesWithRePrefill) {
    dsv4::model<variant_config> m(dir(), {.threads = 2});
    EXPECT_TRUE(m.unused_tensors().empty());
    const size_t V = variant_config::vocab_size, P = 270, N = 12;
    const auto all = tokens(P + N, 1);
    auto seq = m.new_sequence(1024);
    auto out = m.forward(seq, std::span(all).first(P));
    std::vector<std::vector<float>> step_logits = {out.logits};
    for (size_t j = 0; j < N; ++j) step_logits.push_back(m.forward(seq, std::span(all).subspan(P + j, 1)).logits);

    auto fresh = m.new_sequence(1024);
    const auto full = m.forward(fresh, all, {.all_logits = true});
    ASSERT_EQ(full.rows, P + N);
    for (size_t j = 0; j <= N; ++j)
        EXPECT_TRUE(close_to(step_logits[j], slice(full.logits, (P - 1 + j) * V, V))) << "step " << j;
    // the state holds what the layer pattern implies: 282 tokens -> 70 CSA entries, 2 HCA entries
    EXPECT_EQ(seq.layers()[0].compressed.size(), 70u * variant_config::head_dim);
    EXPECT_EQ(seq.layers()[0].index_keys.size(), 70u * variant_config::index_head_dim);
    EXPECT_EQ(seq.layers()[1].compressed.size(), 2u * variant_config::head_dim);
    EXPECT_TRUE(seq.layers()[2].compressed.empty());
    // exact byte accounting: windows, entries, compressor states (kv + score), token ids
    const size_t W = variant_config::window_size, hd = variant_config::head_dim, id = variant_config::index_head_dim;
    const size_t csa_state = 2 * (8 * 2 * hd) + 2 * (8 * 2 * id), hca_state = 2 * (128 * hd);
    const size_t expected = 4 * (5 * W * hd                                  // 4 layers + MTP windows
                                 + 2 * (70 * hd + 70 * id + csa_state)       // CSA layers 0 and 3
                                 + (2 * hd + hca_state)                      // HCA layer 1
                                 + (P + N));                                 // token ids
    EXPECT_EQ(seq.bytes(), expected);
}

TEST_F(VariantModel, ChunkedPrefillMatchesOnePrefill) {
    dsv4::model<variant_config> m(dir(), {.threads = 2});
    const auto prompt = tokens(300, 2);
    auto one = m.new_sequence(512);
    const auto ref = m.forward(one, prompt).logits;
    for (const std::vector<size_t>& split : {std::vector<size_t>{7, 128, 165}, {1, 1, 1, 297}, {255, 45}, {3, 4, 5, 288}}) {
        auto seq = m.new_sequence(512);
        size_t at = 0;
        std::vector<float> last;
        for (size_t n : split) {
            last = m.forward(seq, std::span(prompt).subspan(at, n)).logits;
            at += n;
        }
        EXPECT_TRUE(close_to(last, ref)) << "split starting " << split[0];
        // and decoding on from there agrees too
        const int32_t next = 5;
        auto a = one;
        EXPECT_TRUE(close_to(m.forward(seq, std::span(&next, 1)).logits, m.forward(a, std::span(&next, 1)).logits));
    }
}

// model_options::max_chunk_tokens splits a long call into consecutive chunks: every logit
// row, the hidden streams and the state agree with the call in one piece.
TEST_F(VariantModel, MaxChunkTokensSplitsLongCalls) {
    dsv4::model<variant_config> whole(dir(), {.threads = 2, .max_chunk_tokens = 0});
    dsv4::model<variant_config> chunked(dir(), {.threads = 2, .max_chunk_tokens = 64});
    const auto prompt = tokens(300, 4);
    const size_t V = variant_config::vocab_size;
    auto a = whole.new_sequence(512), b = chunked.new_sequence(512);
    const auto ra = whole.forward(a, prompt, {.all_logits = true, .keep_hidden = true});
    const auto rb = chunked.forward(b, prompt, {.all_logits = true, .keep_hidden = true});
    ASSERT_EQ(rb.rows, 300u);
    ASSERT_EQ(rb.logits.size(), 300u * V);
    ASSERT_EQ(rb.hidden.size(), ra.hidden.size());
    for (size_t t = 0; t < 300; t += 37) EXPECT_TRUE(close_to(slice(rb.logits, t * V, V), slice(ra.logits, t * V, V))) << t;
    EXPECT_TRUE(close_to(rb.hidden, ra.hidden));
    EXPECT_EQ(b.position(), 300);
    EXPECT_EQ(b.bytes(), a.bytes());
    // last-row logits only, and decoding on
    auto c = chunked.new_sequence(512);
    const auto rc = chunked.forward(c, prompt);
    EXPECT_EQ(rc.rows, 1u);
    EXPECT_TRUE(close_to(rc.logits, slice(ra.logits, 299 * V, V)));
    const int32_t next = 9;
    EXPECT_TRUE(close_to(chunked.forward(c, std::span(&next, 1)).logits, whole.forward(a, std::span(&next, 1)).logits));
    EXPECT_THROW(dsv4::model<variant_config>(dir(), {.max_chunk_tokens = -1}), dsv4::error);
}

TEST_F(VariantModel, ThreadCountDoesNotChangeABit) {
    dsv4::model<variant_config> m1(dir(), {.threads = 1});
    dsv4::model<variant_config> m2(dir(), {.threads = 2});
    const auto prompt = tokens(200, 3);
    auto s1 = m1.new_sequence(512), s2 = m2.new_sequence(512);
    const auto a = m1.forward(s1, prompt, {.all_logits = true});
    const auto b = m2.forward(s2, prompt, {.all_logits = true});
    EXPECT_EQ(a.logits, b.logits);
    const int32_t t = 17;
    EXPECT_EQ(m1.forward(s1, std::span(&t, 1)).logits, m2.forward(s2, std::span(&t, 1)).logits);
}

}  // namespace
