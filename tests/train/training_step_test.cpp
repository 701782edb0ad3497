// The training loss and every gradient against the golden training data
// (tests/data/golden-train, float64 reference): loss terms within 1e-5 relative, every
// grad.* tensor within 1e-4·max|expected|, the gradient norm within 1e-5 relative, and the
// same for the indexer warm-up mode; gradients bit-identical for 1 and 2 threads; the
// training forward's logits bit-identical to model_core::forward.
#include <dsv4/config/mini.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/train/parameters.hpp>
#include <dsv4/train/training_step.hpp>

#include "../support/golden.hpp"
#include "../support/test_util.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::floats_of;

std::string train_golden(const std::string& rel) { return std::string(DSV4_TEST_DATA) + "/golden-train/" + rel; }

struct golden_case {
    std::string name;
    dsv4::model_shape shape;
};
void PrintTo(const golden_case& c, std::ostream* os) { *os << c.name; }

// meta.json as Python wrote it: Infinity/NaN (in fields no test reads) become null
nlohmann::json meta_of(const std::string& config) {
    std::string text = dsv4::read_text_file(train_golden(config + "/meta.json"));
    for (const std::string bad : {"-Infinity", "Infinity", "NaN"})
        for (size_t at = text.find(bad); at != std::string::npos; at = text.find(bad, at)) text.replace(at, bad.size(), "null");
    return nlohmann::json::parse(text);
}

class TrainingStepGolden : public ::testing::TestWithParam<golden_case> {};

std::vector<std::vector<int32_t>> batch_of(const std::string& config) {
    const auto j = nlohmann::json::parse(dsv4::read_text_file(train_golden(config + "/batch.json")));
    return j.at("tokens").get<std::vector<std::vector<int32_t>>>();
}

dsv4::train::training_options options_of(const nlohmann::json& hyper) {
    dsv4::train::training_options o;
    o.mtp_weight = hyper.at("mtp_weight").get<double>();
    o.balance_weight = hyper.at("balance_weight").get<double>();
    o.indexer_weight = hyper.at("indexer_weight").get<double>();
    return o;
}

void expect_losses(const dsv4::train::loss_terms& got, const nlohmann::json& expected) {
    const std::pair<const char*, double> terms[] = {
        {"main", got.main}, {"mtp", got.mtp}, {"balance", got.balance}, {"indexer", got.indexer}, {"total", got.total}};
    for (const auto& [name, value] : terms) {
        const double e = expected.at(name).get<double>();
        EXPECT_LE(std::fabs(value - e), 1e-5 * std::fabs(e)) << name << ": got " << value << ", expected " << e;
    }
}

TEST_P(TrainingStepGolden, LossesAndEveryGradientMatchTheReference) {
    const auto& c = GetParam();
    const dsv4::checkpoint ck(dsv4::testing::golden(c.name));
    const auto p = dsv4::train::parameters::from_checkpoint(ck, c.shape);
    const auto model = dsv4::train::make_model(p);
    const auto meta = meta_of(c.name);
    const auto docs = batch_of(c.name);
    auto g = dsv4::train::parameters::zeros_like(p);
    const auto res = dsv4::train::forward_backward(*model, p, docs, options_of(meta.at("hyper")), g);
    expect_losses(res.loss, meta.at("losses"));

    const dsv4::safetensors_file grads(train_golden(c.name + "/grads.safetensors"));
    std::set<std::string> checked;
    double norm2 = 0;
    for (const auto& name : g.names()) {
        const std::string key = "grad." + name;
        if (!grads.find(key)) continue;
        checked.insert(name);
        EXPECT_TRUE(close_to(g[name], floats_of(grads.at(key)))) << name;
        for (float v : g[name]) norm2 += double(v) * double(v);
    }
    for (const auto& t : grads.tensors()) {
        if (t.name.rfind("grad.", 0) == 0) {
            EXPECT_TRUE(checked.count(t.name.substr(5))) << t.name << " has no gradient here";
        }
    }
    const double norm = std::sqrt(norm2), expected_norm = meta.at("grad_norm").get<double>();
    EXPECT_LE(std::fabs(norm - expected_norm), 1e-5 * expected_norm) << "gradient norm " << norm;
}

TEST_P(TrainingStepGolden, IndexerWarmupMatchesTheReference) {
    const auto& c = GetParam();
    const auto meta = meta_of(c.name);
    if (!meta.contains("indexer_warmup_losses")) GTEST_SKIP() << c.name << " has no warm-up case";
    const dsv4::checkpoint ck(dsv4::testing::golden(c.name));
    const auto p = dsv4::train::parameters::from_checkpoint(ck, c.shape);
    const auto model = dsv4::train::make_model(p);
    auto opt = options_of(meta.at("hyper"));
    opt.indexer_warmup = true;
    auto g = dsv4::train::parameters::zeros_like(p);
    const auto res = dsv4::train::forward_backward(*model, p, batch_of(c.name), opt, g);
    expect_losses(res.loss, meta.at("indexer_warmup_losses"));
    const dsv4::safetensors_file grads(train_golden(c.name + "/grads.safetensors"));
    size_t checked = 0;
    for (const auto& t : grads.tensors()) {
        const std::string& key = t.name;
        if (key.rfind("warmup_grad.", 0) != 0) continue;
        ++checked;
        EXPECT_TRUE(close_to(g[key.substr(12)], floats_of(grads.at(key)))) << key;
    }
    EXPECT_GT(checked, 0u);
}

INSTANTIATE_TEST_SUITE_P(Golden, TrainingStepGolden,
                         ::testing::Values(golden_case{"flash-mini", dsv4::shape_of<dsv4::FlashMiniConfig>()},
                                           golden_case{"pro-mini", dsv4::shape_of<dsv4::ProMiniConfig>()}),
                         [](const auto& info) {
                             std::string n = info.param.name;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST(TrainingStep, GradientsDoNotDependOnTheThreadCount) {
    const dsv4::checkpoint ck(dsv4::testing::golden("flash-mini"));
    const auto p = dsv4::train::parameters::from_checkpoint(ck, dsv4::shape_of<dsv4::FlashMiniConfig>());
    const auto docs = batch_of("flash-mini");
    std::vector<dsv4::train::parameters> runs;
    for (int threads : {1, 2}) {
        dsv4::model_options o;
        o.threads = threads;
        const auto model = dsv4::train::make_model(p, o);
        runs.push_back(dsv4::train::parameters::zeros_like(p));
        dsv4::train::forward_backward(*model, p, docs, {}, runs.back());
    }
    for (const auto& name : runs[0].names()) {
        const auto& a = runs[0][name];
        const auto& b = runs[1][name];
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << name;
    }
}

// Anticipatory Routing's hook: forced expert ids replace each score-routed layer's own top-k
// (hash layers keep their table); forcing a model's own choice changes nothing, bit for bit.
TEST(TrainingStep, ForcedExpertsReplaceTheRoutersSelection) {
    const auto shape = dsv4::shape_of<dsv4::FlashMiniConfig>();
    const dsv4::checkpoint ck(dsv4::testing::golden("flash-mini"));
    const auto p = dsv4::train::parameters::from_checkpoint(ck, shape);
    const auto model = dsv4::train::make_model(p);
    const auto docs = batch_of("flash-mini");
    auto g0 = dsv4::train::parameters::zeros_like(p), g1 = g0, g2 = g0;
    const auto own = dsv4::train::forward_backward(*model, p, docs, {}, g0);

    dsv4::train::training_options same;
    same.forced_experts = &own.routing;
    const auto again = dsv4::train::forward_backward(*model, p, docs, same, g1);
    EXPECT_EQ(again.loss.total, own.loss.total);
    for (const auto& name : g0.names())
        EXPECT_EQ(0, std::memcmp(g0[name].data(), g1[name].data(), g0[name].size() * sizeof(float))) << name;

    // every score-routed selection shifted to the next expert ids (still distinct per token)
    auto shifted = own.routing;
    const int E = shape.n_routed_experts;
    for (auto& doc : shifted)
        for (size_t b = 0; b < doc.size(); ++b)
            if (!shape.is_hash_layer(int(b)))
                for (auto& e : doc[b]) e = (e + 1) % E;
    dsv4::train::training_options moved;
    moved.forced_experts = &shifted;
    const auto other = dsv4::train::forward_backward(*model, p, docs, moved, g2);
    EXPECT_EQ(other.routing, shifted);
    EXPECT_NE(other.loss.total, own.loss.total);
    for (size_t b = 0; b < other.expert_loads.size(); ++b)
        for (int e = 0; e < E; ++e) {
            int64_t count = 0;
            for (const auto& doc : shifted) count += std::count(doc[b].begin(), doc[b].end(), e);
            EXPECT_EQ(other.expert_loads[b][size_t(e)], count) << "block " << b << " expert " << e;
        }
    // a bad id is named
    auto bad = own.routing;
    bad[0][1][0] = E;
    dsv4::train::training_options wrong;
    wrong.forced_experts = &bad;
    EXPECT_DSV4_ERROR(dsv4::train::forward_backward(*model, p, docs, wrong, g2), "forced expert", "is not in [0,");
}

// The training forward is the inference forward: for one document, the head over its streams
// gives model_core::forward's logits of every position and mtp_forward's, bit for bit.
TEST(TrainingStep, TrainingForwardLogitsAreTheInferenceLogits) {
    const auto shape = dsv4::shape_of<dsv4::FlashMiniConfig>();
    const dsv4::checkpoint ck(dsv4::testing::golden("flash-mini"));
    const auto p = dsv4::train::parameters::from_checkpoint(ck, shape);
    const auto model = dsv4::train::make_model(p);
    const std::vector<int32_t> ids = batch_of("flash-mini")[0];
    const size_t T = ids.size(), V = size_t(shape.vocab_size);

    const auto pass = dsv4::train::training_forward(*model, ids);
    auto seq = model->new_sequence(int64_t(T));
    const auto ref = model->forward(seq, ids, {.all_logits = true, .keep_hidden = true});
    ASSERT_EQ(pass.hidden.size(), ref.hidden.size());
    EXPECT_EQ(0, std::memcmp(pass.hidden.data(), ref.hidden.data(), ref.hidden.size() * sizeof(float)));
    const auto rows = dsv4::train::head_rows(*model, -1, pass.hidden.data(), T);
    std::vector<float> logits(T * V);
    dsv4::train::head_logits(*model, rows.data(), T, 0, V, logits.data());
    EXPECT_EQ(0, std::memcmp(logits.data(), ref.logits.data(), logits.size() * sizeof(float)));

    auto prefix = xt::xtensor<float, 3>::from_shape({T - 1, ref.hidden.shape(1), ref.hidden.shape(2)});
    std::copy(ref.hidden.data(), ref.hidden.data() + prefix.size(), prefix.data());
    const auto mtp_ref = model->mtp_forward(seq, prefix, std::span<const int32_t>(ids).subspan(1), {.all_logits = true});
    const int mtp_block = shape.n_layers;
    const auto mtp_rows = dsv4::train::head_rows(*model, mtp_block, pass.mtp_hidden.data(), T - 1);
    std::vector<float> mtp_logits((T - 1) * V);
    dsv4::train::head_logits(*model, mtp_rows.data(), T - 1, 0, V, mtp_logits.data());
    EXPECT_EQ(0, std::memcmp(mtp_logits.data(), mtp_ref.logits.data(), mtp_logits.size() * sizeof(float)));
}

}  // namespace
