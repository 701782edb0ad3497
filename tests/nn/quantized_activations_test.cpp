// model_options::quantize_activations on a release-layout model (FP8 dense, FP4 experts,
// BF16 plain projections) whose widths are whole 128-blocks, so decode takes the quantised
// GEMVs while prefill runs the float kernels on the same rounded inputs (and, where the CPU has
// AVX512-BF16, the bf16 dot-product GEMM for the BF16 projections): the two must agree like any
// two summation orders; the thread count must not change a bit; and the logits must stay near
// the float model's (cosine > 0.9) without equalling them.
// The same checks on the golden flash-mini-fp8 checkpoint cover widths that are not.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>

#include "../support/golden.hpp"
#include "../support/random_model.hpp"
#include "../support/test_util.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::values;
using dsv4::testing::slice;

struct blocks_config : dsv4::FlashMiniFp8Config {
    static constexpr int vocab_size = 320;
    static constexpr int dim = 128;
    static constexpr int n_layers = 3;
    static constexpr int n_heads = 4;
    static constexpr int head_dim = 64;
    static constexpr int q_lora_rank = 128;
    static constexpr int o_groups = 2;
    static constexpr int o_lora_rank = 128;
    static constexpr int window_size = 16;
    static constexpr std::array<int, 4> compress_ratios = {4, 128, 0, 0};
    static constexpr int n_routed_experts = 8;
    static constexpr int n_activated_experts = 2;
    static constexpr int moe_inter_dim = 128;
    static constexpr int n_hash_layers = 1;
    static constexpr int index_n_heads = 4;
    static constexpr int index_head_dim = 32;
    static constexpr int index_topk = 8;
};

class QuantizedActivations : public dsv4::testing::random_checkpoint_test<blocks_config, 3> {};

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
}
double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
    return ab / std::sqrt(aa * bb);
}
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

TEST_F(QuantizedActivations, WeightsCarryTheReferenceRounding) {
    dsv4::model<blocks_config> q(dir(), {.threads = 1, .quantize_activations = true});
    dsv4::model<blocks_config> f(dir(), {.threads = 1});
    const auto& a = q.weights().layers[0].attn;
    EXPECT_EQ(a.wq_a.input, dsv4::kernels::input_rounding::fp8_blocks);
    EXPECT_EQ(q.weights().layers[0].ffn.experts[0].w2.input, dsv4::kernels::input_rounding::fp8_blocks);
    EXPECT_EQ(q.weights().head.input, q.weights().head.format == dsv4::weight_format::bf16
                                          ? dsv4::kernels::input_rounding::bf16
                                          : dsv4::kernels::input_rounding::none);
    EXPECT_EQ(f.weights().layers[0].attn.wq_a.input, dsv4::kernels::input_rounding::none);
}

TEST_F(QuantizedActivations, DecodeAgreesWithRePrefillAndStaysNearTheFloatModel) {
    dsv4::model<blocks_config> q(dir(), {.threads = 2, .quantize_activations = true});
    dsv4::model<blocks_config> f(dir(), {.threads = 2});
    const size_t V = blocks_config::vocab_size, P = 40, N = 6;
    const auto all = tokens(P + N, 1);
    auto seq = q.new_sequence(256);
    std::vector<std::vector<float>> steps = {values(q.forward(seq, std::span(all).first(P)).logits)};
    for (size_t j = 0; j < N; ++j) steps.push_back(values(q.forward(seq, std::span(all).subspan(P + j, 1)).logits));
    auto fresh = q.new_sequence(256);
    const auto full = q.forward(fresh, all, {.all_logits = true});
    auto fseq = f.new_sequence(256);
    const auto float_full = f.forward(fseq, all, {.all_logits = true});
    for (size_t j = 0; j <= N; ++j) {
        const auto row = slice(full.logits, (P - 1 + j) * V, V);
        EXPECT_TRUE(close_to(steps[j], row)) << "step " << j;
        const auto float_row = slice(float_full.logits, (P - 1 + j) * V, V);
        const double d = max_abs_diff(row, float_row), scale = max_abs(float_row);
        EXPECT_GT(d, 1e-6 * scale) << "step " << j << ": rounding had no effect";
        // e4m3 keeps 3 mantissa bits and routing may flip, so logits move by up to tens of
        // percent of their range on random weights; a wrong scale or element order would
        // leave them unrelated (cosine near 0). Measured: 0.96 to 0.997.
        EXPECT_GT(cosine(row, float_row), 0.9) << "step " << j;
    }
}

// A layer's projections of one prefill input in one parallel region, as attention runs them:
// the BF16 compressor projections equal bf16(x) · W (a double-precision reference) within the
// f32 rounding of their sums, whichever kernel the CPU runs them on.
TEST_F(QuantizedActivations, PrefillBf16ProjectionsMultiplyTheRoundedInput) {
    dsv4::model<blocks_config> q(dir(), {.threads = 1, .quantize_activations = true});
    const auto& a = q.weights().layers[0].attn;  // compress ratio 4: BF16 wkv and wgate
    ASSERT_EQ(a.compressor.wkv.format, dsv4::weight_format::bf16);
    const size_t M = 24, K = blocks_config::dim;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::vector<float> x(M * K);
    for (auto& v : x) v = u(rng);
    std::vector<float> kv(M * a.compressor.wkv.out), gate(M * a.compressor.wgate.out), qr(M * a.wq_a.out);
    dsv4::context ctx(2);
    dsv4::nn::linear_many(ctx, x.data(), M, {{&a.wq_a, qr.data()}, {&a.compressor.wkv, kv.data()}, {&a.compressor.wgate, gate.data()}});
    for (const auto& [w, y] : {std::pair{&a.compressor.wkv, &kv}, std::pair{&a.compressor.wgate, &gate}}) {
        const auto* wb = static_cast<const uint16_t*>(w->data);
        for (size_t m = 0; m < M; ++m)
            for (size_t n = 0; n < w->out; ++n) {
                double ref = 0, magnitude = 0;
                for (size_t k = 0; k < K; ++k) {
                    const double p = double(dsv4::decode_bf16(dsv4::encode_bf16(x[m * K + k]))) * double(dsv4::decode_bf16(wb[n * K + k]));
                    ref += p;
                    magnitude += std::fabs(p);
                }
                ASSERT_NEAR((*y)[m * w->out + n], ref, double(K) * 0x1p-24 * magnitude) << m << ", " << n;
            }
    }
}

TEST_F(QuantizedActivations, ThreadCountDoesNotChangeABit) {
    dsv4::model<blocks_config> m1(dir(), {.threads = 1, .quantize_activations = true});
    dsv4::model<blocks_config> m2(dir(), {.threads = 2, .quantize_activations = true});
    const auto prompt = tokens(30, 2);
    auto s1 = m1.new_sequence(128), s2 = m2.new_sequence(128);
    EXPECT_EQ(m1.forward(s1, prompt).logits, m2.forward(s2, prompt).logits);
    for (int32_t t : {3, 99, 200}) EXPECT_EQ(m1.forward(s1, std::span(&t, 1)).logits, m2.forward(s2, std::span(&t, 1)).logits);
}

TEST(QuantizedActivationsGolden, FlashMiniFp8StaysNearTheFloatGolden) {
    dsv4::model<dsv4::FlashMiniFp8Config> q(dsv4::testing::golden("flash-mini-fp8"), {.threads = 2, .quantize_activations = true});
    dsv4::model<dsv4::FlashMiniFp8Config> f(dsv4::testing::golden("flash-mini-fp8"), {.threads = 2});
    std::vector<int32_t> prompt = {1, 17, 42, 99, 3, 250, 7, 64};
    auto sq = q.new_sequence(64), sf = f.new_sequence(64);
    const auto lq = values(q.forward(sq, prompt).logits), lf = values(f.forward(sf, prompt).logits);
    const double d = max_abs_diff(lq, lf), scale = max_abs(lf);
    EXPECT_GT(d, 1e-6 * scale);
    EXPECT_GT(cosine(lq, lf), 0.9);  // measured 0.996
    const int32_t next = 5;
    const auto dq = q.forward(sq, std::span(&next, 1)).logits;
    auto fresh = q.new_sequence(64);
    prompt.push_back(next);
    EXPECT_TRUE(close_to(dq, q.forward(fresh, prompt).logits));
}

}  // namespace
