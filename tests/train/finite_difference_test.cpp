// The whole-model gradient of a shape no golden file covers (defined here: CSA, HCA and
// window layers, a hash layer, 3 streams, 5 Sinkhorn rounds, window and top-k exceeded by the
// documents) against central differences of the loss, for the largest-gradient entry of
// every parameter tensor. The model computes in f32, so the differences use a step of 1e-3 on
// the loss accumulated in double and a tolerance of a few percent: a wrong derivative is off
// by far more. Entries whose ± step changes an expert selection are skipped (the loss is not
// differentiable there). The differentiated objective is the total for the indexer's tensors
// and total − L_I for the others (the indexer's inputs are detached: TRAINING.md §3.4).
#include <dsv4/config/mini.hpp>
#include <dsv4/train/parameters.hpp>
#include <dsv4/train/training_step.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace {

struct TrainVariantConfig : dsv4::FlashMiniConfig {
    static constexpr int vocab_size = 48;
    static constexpr int dim = 32;
    static constexpr int n_layers = 3;
    static constexpr int n_heads = 2;
    static constexpr int head_dim = 32;
    static constexpr int rope_head_dim = 8;
    static constexpr int q_lora_rank = 16;
    static constexpr int o_groups = 2;
    static constexpr int o_lora_rank = 16;
    static constexpr int window_size = 8;
    static constexpr std::array<int, 4> compress_ratios = {4, 8, 0, 0};
    static constexpr int n_routed_experts = 6;
    static constexpr int n_activated_experts = 2;
    static constexpr int moe_inter_dim = 16;
    static constexpr int n_hash_layers = 1;
    static constexpr int index_n_heads = 4;
    static constexpr int index_head_dim = 16;
    static constexpr int index_topk = 3;
    static constexpr int hc_mult = 3;
    static constexpr int hc_sinkhorn_iters = 5;
    static constexpr double swiglu_limit = 1.0;  // low, so the clamp's zero-gradient path is taken
    static constexpr int original_seq_len = 16;
};

std::vector<std::vector<int32_t>> documents() {
    std::mt19937 rng(7);
    std::vector<std::vector<int32_t>> docs;
    for (size_t n : {30, 23}) {
        docs.emplace_back(n);
        for (auto& id : docs.back()) id = int32_t(rng() % TrainVariantConfig::vocab_size);
    }
    return docs;
}

bool is_indexer(const std::string& name) { return name.find(".indexer.") != std::string::npos; }

TEST(TrainingStepFiniteDifferences, EveryTensorOfAVariantShape) {
    const auto shape = dsv4::shape_of<TrainVariantConfig>();
    auto p = dsv4::train::parameters::random(shape, 11);
    dsv4::model_options one_thread;
    one_thread.threads = 1;
    const auto model = dsv4::train::make_model(p, one_thread);
    const auto docs = documents();
    dsv4::train::training_options opt;
    opt.balance_weight = 0.01;  // large enough to be seen in the differences
    auto g = dsv4::train::parameters::zeros_like(p);
    const auto base = dsv4::train::forward_backward(*model, p, docs, opt, g);

    size_t checked = 0, skipped = 0;
    for (const auto& name : g.names()) {
        if (name.find("gate.bias") != std::string::npos) continue;  // trained by the bias rule, no gradient
        const auto& grad = g[name];
        const auto it = std::max_element(grad.begin(), grad.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
        const size_t i = size_t(it - grad.begin());
        const double analytic = *it;
        if (std::fabs(analytic) < 1e-3) continue;  // below the differences' resolution in f32
        auto objective = [&](float delta) {
            float& v = p[name].data()[i];
            const float saved = v;
            v = saved + delta;
            auto scratch = dsv4::train::parameters::zeros_like(p);
            const auto r = dsv4::train::forward_backward(*model, p, docs, opt, scratch);
            v = saved;
            const double obj = is_indexer(name) ? r.loss.total : r.loss.total - r.loss.indexer;
            return std::pair{obj, r.routing};
        };
        const float h = 1e-3f;
        const auto [plus, routing_plus] = objective(h);
        const auto [minus, routing_minus] = objective(-h);
        if (routing_plus != base.routing || routing_minus != base.routing) {
            ++skipped;
            continue;
        }
        const double numeric = (plus - minus) / (2.0 * double(h));
        EXPECT_NEAR(numeric, analytic, 3e-2 * std::fabs(analytic) + 2e-4) << name << "[" << i << "]";
        if (std::getenv("DSV4_PRINT_DIFFS")) std::printf("%s %g %g\n", name.c_str(), analytic, numeric);
        ++checked;
    }
    EXPECT_GT(checked, 120u) << "skipped " << skipped;
    ::testing::Test::RecordProperty("checked", int(checked));
    ::testing::Test::RecordProperty("skipped_routing_flips", int(skipped));
}

}  // namespace
