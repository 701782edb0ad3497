// Research variants defined here on random weights: one with another layer pattern, widths,
// expert count, hc streams and Sinkhorn iterations; one whose CSA and HCA layers use other
// compress ratios than the release's 4 and 128 (kinds stated per layer). For each: decoding
// token by token agrees with one re-prefill of the whole sequence, any chunking of the prompt
// gives the same logits, and the thread count does not change a single bit.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>

#include "../support/golden.hpp"
#include "../support/random_model.hpp"
#include "../support/test_util.hpp"

#include <random>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::values;
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

// CSA at ratios 8 and 2, HCA at 3 and 16: the compressor and the indexer take any ratio.
struct other_ratios_config : variant_config {
    static constexpr int n_layers = 5;
    static constexpr std::array<int, 6> compress_ratios = {8, 3, 0, 16, 2, 0};
    static constexpr std::array<dsv4::attention_kind, 6> attention_kinds = {
        dsv4::attention_kind::csa, dsv4::attention_kind::hca, dsv4::attention_kind::window,
        dsv4::attention_kind::hca, dsv4::attention_kind::csa, dsv4::attention_kind::window};
    static constexpr int index_topk = 9;
};
static_assert(dsv4::shape_of<other_ratios_config>().kind(1) == dsv4::attention_kind::hca);

template <class Config>
class VariantModel : public dsv4::testing::random_checkpoint_test<Config, 7> {};
using Variants = ::testing::Types<variant_config, other_ratios_config>;
TYPED_TEST_SUITE(VariantModel, Variants);

TYPED_TEST(VariantModel, DecodeAgreesWithRePrefill) {
    using config = TypeParam;
    dsv4::model<config> m(this->dir(), {.threads = 2});
    EXPECT_TRUE(m.unused_tensors().empty());
    const size_t V = config::vocab_size, P = 270, N = 12;
    const auto all = this->tokens(P + N, 1);
    auto seq = m.new_sequence(1024);
    auto out = m.forward(seq, std::span(all).first(P));
    std::vector<std::vector<float>> step_logits = {values(out.logits)};
    for (size_t j = 0; j < N; ++j) step_logits.push_back(values(m.forward(seq, std::span(all).subspan(P + j, 1)).logits));

    auto fresh = m.new_sequence(1024);
    const auto full = m.forward(fresh, all, {.all_logits = true});
    ASSERT_EQ(full.rows, P + N);
    for (size_t j = 0; j <= N; ++j)
        EXPECT_TRUE(close_to(step_logits[j], slice(full.logits, (P - 1 + j) * V, V))) << "step " << j;
    // the state holds what the layer pattern implies (282 tokens: 282 / r entries per compressed
    // layer), and its bytes are exact: windows, entries, compressor states (kv + score), token ids
    const auto shape = dsv4::shape_of<config>();
    const size_t T = P + N, W = config::window_size, hd = config::head_dim, id = config::index_head_dim;
    size_t floats = 0;
    for (int l = 0; l < shape.n_blocks(); ++l) {
        const size_t r = size_t(shape.ratio(l));
        floats += W * hd;
        const auto& st = l < shape.n_layers ? seq.layers()[size_t(l)] : seq.mtp_layers()[0];
        if (!shape.has_compressor(l)) {
            EXPECT_TRUE(st.compressed.empty()) << l;
            continue;
        }
        const size_t entries = l < shape.n_layers ? T / r : 0, c = shape.has_indexer(l) ? 2 : 1;
        EXPECT_EQ(st.compressed.size(), entries * hd) << "layer " << l;
        floats += entries * hd + 2 * (c * r * c * hd);
        if (shape.has_indexer(l)) {
            EXPECT_EQ(st.index_keys.size(), entries * id) << "layer " << l;
            floats += entries * id + 2 * (2 * r * 2 * id);
        }
    }
    EXPECT_EQ(seq.bytes(), 4 * (floats + T));
}

TYPED_TEST(VariantModel, ChunkedPrefillMatchesOnePrefill) {
    dsv4::model<TypeParam> m(this->dir(), {.threads = 2});
    const auto prompt = this->tokens(300, 2);
    auto one = m.new_sequence(512);
    const auto ref = m.forward(one, prompt).logits;
    for (const std::vector<size_t>& split : {std::vector<size_t>{7, 128, 165}, {1, 1, 1, 297}, {255, 45}, {3, 4, 5, 288}}) {
        auto seq = m.new_sequence(512);
        size_t at = 0;
        std::vector<float> last;
        for (size_t n : split) {
            last = values(m.forward(seq, std::span(prompt).subspan(at, n)).logits);
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
TYPED_TEST(VariantModel, MaxChunkTokensSplitsLongCalls) {
    dsv4::model<TypeParam> whole(this->dir(), {.threads = 2, .max_chunk_tokens = 0});
    dsv4::model<TypeParam> chunked(this->dir(), {.threads = 2, .max_chunk_tokens = 64});
    const auto prompt = this->tokens(300, 4);
    const size_t V = TypeParam::vocab_size;
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
    EXPECT_THROW(dsv4::model<TypeParam>(this->dir(), {.max_chunk_tokens = -1}), dsv4::error);
}

TYPED_TEST(VariantModel, ThreadCountDoesNotChangeABit) {
    dsv4::model<TypeParam> m1(this->dir(), {.threads = 1});
    dsv4::model<TypeParam> m2(this->dir(), {.threads = 2});
    const auto prompt = this->tokens(200, 3);
    auto s1 = m1.new_sequence(512), s2 = m2.new_sequence(512);
    const auto a = m1.forward(s1, prompt, {.all_logits = true});
    const auto b = m2.forward(s2, prompt, {.all_logits = true});
    EXPECT_EQ(a.logits, b.logits);
    const int32_t t = 17;
    EXPECT_EQ(m1.forward(s1, std::span(&t, 1)).logits, m2.forward(s2, std::span(&t, 1)).logits);
}

}  // namespace
