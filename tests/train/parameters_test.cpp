// train::parameters: the f32 master weights of a shape, read exactly from any checkpoint,
// drawn at random, saved as a checkpoint folder, and run as a model without a file.
#include <dsv4/config/mini.hpp>
#include <dsv4/runtime/generate.hpp>
#include <dsv4/runtime/known_models.hpp>
#include <dsv4/train/parameters.hpp>

#include "../support/golden.hpp"
#include "../support/test_util.hpp"

#include <xtensor/xview.hpp>

#include <cstring>
#include <set>

namespace {

using dsv4::tensor_id;
using dsv4::testing::close_to;
using dsv4::testing::floats_of;
using dsv4::testing::golden;
using dsv4::testing::slice;
using dsv4::testing::values;
using dsv4::train::parameters;

constexpr auto flash_mini = dsv4::shape_of<dsv4::FlashMiniConfig>();
constexpr auto flash_mini_fp8 = dsv4::shape_of<dsv4::FlashMiniFp8Config>();

std::vector<std::vector<int32_t>> prompts(const std::string& file) { return dsv4::testing::prompts_of(golden(file)); }

template <class A, class B>
bool same_bits(const A& a, const B& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(*a.data())) == 0;
}

// Prefill logits of every prompt, then three greedy decode steps and the MTP block's logits,
// all concatenated: what two models must agree on.
std::vector<float> run(const dsv4::model_core& m, const std::vector<std::vector<int32_t>>& ps) {
    std::vector<float> out;
    const size_t V = size_t(m.shape().vocab_size);
    for (const auto& p : ps) {
        auto seq = m.new_sequence(1024);
        auto r = m.forward(seq, p, {.keep_hidden = true});
        out.insert(out.end(), r.logits.begin(), r.logits.end());
        std::vector<int32_t> next(p.begin() + 1, p.end());
        next.push_back(0);
        const auto mtp = m.mtp_forward(seq, r.hidden, next);
        out.insert(out.end(), mtp.logits.begin(), mtp.logits.end());
        for (int step = 0; step < 3; ++step) {
            const float* l = r.logits.data();
            const int32_t tok = int32_t(std::max_element(l, l + V) - l);
            r = m.forward(seq, std::span<const int32_t>(&tok, 1));
            out.insert(out.end(), r.logits.begin(), r.logits.end());
        }
    }
    return out;
}

TEST(Parameters, NamesAreTheFloatTensorsOfTheReleaseList) {
    const parameters p(flash_mini_fp8);
    std::vector<std::string> expected;
    for (const auto& spec : dsv4::release_tensor_specs(flash_mini_fp8))
        if (!spec.is_scale && spec.desc.role != dsv4::tensor_role::index_table) expected.push_back(spec.name);
    EXPECT_EQ(p.names(), expected);
    for (const char* name : {"layers.0.attn.wq_a.weight", "layers.1.ffn.experts.3.w2.weight", "layers.0.attn.attn_sink",
                             "mtp.0.e_proj.weight", "embed.weight", "layers.2.attn.compressor.ape"})
        EXPECT_TRUE(p.contains(name)) << name;
    EXPECT_FALSE(p.contains("layers.0.attn.wq_a.scale"));
    EXPECT_FALSE(p.contains("layers.0.ffn.gate.tid2eid"));
    EXPECT_EQ(p["layers.1.ffn.experts.3.w2.weight"].shape(), (std::vector<size_t>{64, 32}));
    EXPECT_EQ(p["layers.0.attn.attn_sink"].dimension(), 1u);
}

TEST(Parameters, FromCheckpointDequantisesEveryFormatExactly) {
    const dsv4::checkpoint ck(golden("flash-mini-fp8"));
    const auto p = parameters::from_checkpoint(ck, flash_mini_fp8);
    // FP8 + 128x128 scales, FP4 + 1x32 scales, BF16, F32
    const std::vector<std::pair<std::string, dsv4::dtype>> cases = {
        {"layers.0.attn.wq_b.weight", dsv4::dtype::f8_e4m3},     {"mtp.0.e_proj.weight", dsv4::dtype::f8_e4m3},
        {"layers.1.ffn.experts.1.w1.weight", dsv4::dtype::i8},  {"layers.2.ffn.experts.7.w2.weight", dsv4::dtype::i8},
        {"layers.0.ffn.gate.weight", dsv4::dtype::bf16},         {"embed.weight", dsv4::dtype::bf16},
        {"layers.0.hc_attn_fn", dsv4::dtype::f32},               {"layers.1.attn.compressor.ape", dsv4::dtype::f32},
    };
    for (const auto& [name, stored] : cases) {
        SCOPED_TRACE(name);
        EXPECT_EQ(ck.at(name).type, stored);
        EXPECT_TRUE(same_bits(p[name], dsv4::dequantized<2>(ck, name)));
    }
    for (const char* name : {"layers.0.attn_norm.weight", "layers.0.attn.attn_sink", "layers.1.ffn.gate.bias"})
        EXPECT_TRUE(same_bits(p[name], dsv4::dequantized<1>(ck, name))) << name;
    // and the reference's own dequantisation
    dsv4::safetensors_file check(golden("flash-mini-fp8/dequant_check.safetensors"));
    for (const char* name : {"layers.0.attn.wq_b.weight", "layers.1.ffn.experts.1.w1.weight", "mtp.0.e_proj.weight"})
        EXPECT_EQ(values(p[name]), floats_of(check.at(name))) << name;
    // the hash layer's table, as stored
    const auto& table = ck.at("layers.0.ffn.gate.tid2eid");
    const auto* stored = table.as<int64_t>(dsv4::dtype::i64);
    const int32_t* got = p.tid2eid(0);
    ASSERT_NE(got, nullptr);
    for (int64_t i = 0; i < table.numel(); ++i) ASSERT_EQ(got[i], stored[i]) << i;
    EXPECT_EQ(p.tid2eid(1), nullptr);
}

TEST(Parameters, TypedAccessIsTheNamedTensor) {
    auto p = parameters::random(flash_mini, 3);
    const int mtp = flash_mini.n_layers;
    EXPECT_EQ(p.data(tensor_id::embed), p["embed.weight"].data());
    EXPECT_EQ(p.data(tensor_id::wq_a, 0), p["layers.0.attn.wq_a.weight"].data());
    EXPECT_EQ(p.data(tensor_id::attn_sink, 2), p["layers.2.attn.attn_sink"].data());
    EXPECT_EQ(p.data(tensor_id::expert_w2, 1, 3), p["layers.1.ffn.experts.3.w2.weight"].data());
    EXPECT_EQ(p.data(tensor_id::mtp_e_proj, mtp), p["mtp.0.e_proj.weight"].data());
    EXPECT_EQ(p.data(tensor_id::norm, mtp), p["mtp.0.norm.weight"].data());
    EXPECT_EQ(p.data(tensor_id::hc_head_fn, mtp), p["mtp.0.hc_head_fn"].data());
    EXPECT_EQ(p.numel(tensor_id::expert_w1, 1), size_t(flash_mini.moe_inter_dim * flash_mini.dim));
    EXPECT_EQ(p.numel(tensor_id::wo_a, 0), p["layers.0.attn.wo_a.weight"].size());
    EXPECT_EQ(p.desc("layers.1.ffn.experts.3.w2.weight").id, tensor_id::expert_w2);
    EXPECT_EQ(p.desc("mtp.0.hnorm.weight").block, mtp);
    EXPECT_FALSE(parameters::trained_by_gradient(tensor_id::gate_bias));
    EXPECT_FALSE(parameters::trained_by_gradient(tensor_id::gate_tid2eid));
    EXPECT_TRUE(parameters::trained_by_gradient(tensor_id::gate));
    EXPECT_TRUE(parameters::trained_by_gradient(tensor_id::attn_sink));
    EXPECT_EQ(p.tid2eid_table(0).shape(), (std::array<size_t, 2>{256, 3}));
}

TEST(Parameters, MissingTensorsAndWrongNamesAreErrorsNamingThem) {
    auto p = parameters::random(flash_mini, 3);
    EXPECT_DSV4_ERROR(p["layers.0.attn.nope"], "'layers.0.attn.nope'");
    EXPECT_DSV4_ERROR(p["layers.0.ffn.gate.tid2eid"], "'layers.0.ffn.gate.tid2eid'", "routing table");
    EXPECT_DSV4_ERROR(p.data(tensor_id::compressor_ape, 0), "'layers.0.attn.compressor.ape'");  // a window layer
    EXPECT_DSV4_ERROR(p.data(tensor_id::gate_bias, 0), "'layers.0.ffn.gate.bias'");           // a hash layer
    EXPECT_DSV4_ERROR(p.data(tensor_id::expert_w1, 1, 8), "expert 8", "'layers.1.ffn.experts.8.w1'");
    EXPECT_DSV4_ERROR(p.data(tensor_id::wq_a, 5), "block 5");
    EXPECT_DSV4_ERROR(p.data(tensor_id::gate_tid2eid, 0), "'layers.0.ffn.gate.tid2eid'", "routing table");
    EXPECT_DSV4_ERROR(p.tid2eid_table(1), "layers.1", "score-routed");

    // from_checkpoint: a tensor of the wrong shape, a missing tensor
    const auto full = p.as_checkpoint();
    std::vector<dsv4::tensor_view> views, partial;
    const std::vector<float> small(15, 1.0f);
    for (const auto& name : full->names()) {
        views.push_back(full->at(name));
        if (name == "layers.1.attn.wq_b.weight")
            views.back() = {name, dsv4::dtype::f32, {3, 5}, reinterpret_cast<const std::byte*>(small.data()), 60, {}};
        if (name != "layers.2.ffn_norm.weight") partial.push_back(full->at(name));
    }
    EXPECT_DSV4_ERROR(parameters::from_checkpoint(*dsv4::checkpoint::in_memory("wrong shape", views), flash_mini),
                      "wrong shape", "'layers.1.attn.wq_b.weight'", "[3, 5]", "expected [256, 64]");
    EXPECT_DSV4_ERROR(parameters::from_checkpoint(*dsv4::checkpoint::in_memory("partial", partial), flash_mini),
                      "partial", "'layers.2.ffn_norm.weight'");
}

// Assignments write into the parameters' own memory: pointers stay valid, sizes stay.
TEST(Parameters, AssignmentsKeepTheMemory) {
    auto p = parameters::random(flash_mini, 3);
    const auto g = parameters::random(flash_mini, 4);
    auto& w = p["layers.1.attn.wq_b.weight"];
    const float* where = w.data();
    const xt::xarray<float> before = w;
    w = w - 0.5f * g["layers.1.attn.wq_b.weight"];
    EXPECT_EQ(w.data(), where);
    EXPECT_EQ(w.data(), p.data(tensor_id::wq_b, 1));
    EXPECT_TRUE(xt::allclose(w, before - 0.5f * g["layers.1.attn.wq_b.weight"]));
    xt::view(w, 0, xt::all()) = 7.0f;
    EXPECT_EQ(p.data(tensor_id::wq_b, 1)[63], 7.0f);
    EXPECT_THROW(w = xt::zeros<float>({3, 5}), std::runtime_error);
    EXPECT_EQ(w.size(), 256u * 64u);
    // copies are independent; assigning one of the same shape copies values into place
    parameters q = p;
    q["layers.1.attn.wq_b.weight"] *= 2.0f;
    EXPECT_EQ(p["layers.1.attn.wq_b.weight"](0, 0), 7.0f);
    EXPECT_EQ(q["layers.1.attn.wq_b.weight"](0, 0), 14.0f);
    p = q;
    EXPECT_EQ(p.data(tensor_id::wq_b, 1), where);
    EXPECT_EQ(p["layers.1.attn.wq_b.weight"](0, 0), 14.0f);
    p = parameters::random(flash_mini, 9);
    EXPECT_EQ(p.data(tensor_id::wq_b, 1), where);
}

// The model on parameters read from the f32 golden checkpoint is the file's model, bit for
// bit, and so matches the reference within the golden tolerance.
TEST(Parameters, ModelOnParametersIsTheFileModel) {
    const dsv4::checkpoint ck(golden("flash-mini"));
    for (const auto& n : ck.names()) ASSERT_TRUE(ck.at(n).type == dsv4::dtype::f32 || n.ends_with("tid2eid")) << n;
    const auto p = parameters::from_checkpoint(ck, flash_mini);
    const auto from_params = dsv4::train::make_model(p, {.threads = 2});
    const dsv4::model<dsv4::FlashMiniConfig> from_file(golden("flash-mini"), {.threads = 2});
    const auto ps = prompts("flash-mini/tokens.json");
    EXPECT_TRUE(same_bits(run(*from_params, ps), run(from_file, ps)));

    dsv4::safetensors_file exp(golden("flash-mini/expected.safetensors"));
    const auto last = floats_of(exp.at("prefill.logits_last"));
    const size_t V = size_t(flash_mini.vocab_size);
    for (size_t b = 0; b < ps.size(); ++b) {
        auto seq = from_params->new_sequence(1024);
        EXPECT_TRUE(close_to(from_params->forward(seq, ps[b]).logits, slice(last, b * V, V))) << "prompt " << b;
    }
}

// From the release layout (FP8/FP4/BF16) the f32 parameters hold the same values, so their
// model also matches the reference.
TEST(Parameters, ModelOnReleaseLayoutParametersMatchesTheReference) {
    const auto p = parameters::from_checkpoint(dsv4::checkpoint(golden("flash-mini-fp8")), flash_mini_fp8);
    const auto m = dsv4::train::make_model(p, {.threads = 2});
    EXPECT_EQ(m->shape().dense_format, dsv4::weight_format::f32);
    EXPECT_EQ(m->shape().expert_format, dsv4::weight_format::f32);
    EXPECT_EQ(p.shape().expert_format, dsv4::weight_format::fp4_e2m1);  // the parameters keep the shape given
    EXPECT_EQ(m->weights().layers[1].ffn.experts[0].w1.format, dsv4::weight_format::f32);
    dsv4::safetensors_file exp(golden("flash-mini-fp8/expected.safetensors"));
    const auto last = floats_of(exp.at("prefill.logits_last"));
    const auto ps = prompts("flash-mini-fp8/tokens.json");
    const size_t V = size_t(flash_mini_fp8.vocab_size);
    for (size_t b = 0; b < ps.size(); ++b) {
        auto seq = m->new_sequence(1024);
        EXPECT_TRUE(close_to(m->forward(seq, ps[b]).logits, slice(last, b * V, V))) << "prompt " << b;
    }
}

TEST(Parameters, SavedFolderOpensAsTheSameModelAndChangesReachTheNextForward) {
    auto p = parameters::random(flash_mini, 11);
    const auto live = dsv4::train::make_model(p, {.threads = 2});
    const auto ps = prompts("flash-mini/tokens.json");
    const auto before = run(*live, ps);

    dsv4::testing::temp_dir dir;
    p.save(dir.path().string());
    {
        const dsv4::checkpoint saved(dir.path().string());
        EXPECT_EQ(saved.at("layers.0.ffn.gate.tid2eid").type, dsv4::dtype::i64);
        EXPECT_EQ(saved.at("layers.1.ffn.experts.3.w2.weight").type, dsv4::dtype::f32);
        EXPECT_EQ(saved.size(), p.names().size() + size_t(flash_mini.n_hash_layers));
        const auto opened = dsv4::open_model(dir.path().string(), {.threads = 2});
        EXPECT_TRUE(same_bits(run(*opened, ps), before));
        const dsv4::model<dsv4::FlashMiniConfig> typed(dir.path().string(), {.threads = 2});
        EXPECT_TRUE(same_bits(run(typed, ps), before));
        // and read back exactly
        const auto q = parameters::from_checkpoint(saved, flash_mini);
        for (const auto& name : p.names()) ASSERT_TRUE(same_bits(q[name], p[name])) << name;
        EXPECT_TRUE(same_bits(q.tid2eid_table(0), p.tid2eid_table(0)));
    }

    // a matrix and a norm weight changed in place with xtensor expressions
    p["layers.1.attn.wq_a.weight"] = 0.5f * p["layers.1.attn.wq_a.weight"] + 0.01f;
    const auto after_matrix = run(*live, ps);
    EXPECT_FALSE(same_bits(after_matrix, before));
    p["layers.2.ffn_norm.weight"] += 0.25f;
    const auto after_norm = run(*live, ps);
    EXPECT_FALSE(same_bits(after_norm, after_matrix));
    dsv4::testing::temp_dir changed;
    p.save(changed.path().string());
    EXPECT_TRUE(same_bits(run(*dsv4::open_model(changed.path().string(), {.threads = 2}), ps), after_norm));
}

TEST(Parameters, RandomIsDeterministicPerSeedAndFollowsTheInitRule) {
    const auto a = parameters::random(flash_mini, 5), b = parameters::random(flash_mini, 5),
               c = parameters::random(flash_mini, 6);
    bool all_same = true, any_differs = false;
    for (const auto& name : a.names()) {
        all_same = all_same && same_bits(a[name], b[name]);
        any_differs = any_differs || !same_bits(a[name], c[name]);
    }
    EXPECT_TRUE(all_same);
    EXPECT_TRUE(any_differs);
    EXPECT_TRUE(same_bits(a.tid2eid_table(0), b.tid2eid_table(0)));
    EXPECT_FALSE(same_bits(a.tid2eid_table(0), c.tid2eid_table(0)));

    EXPECT_TRUE(xt::all(xt::equal(a["layers.0.attn_norm.weight"], 1.0f)));
    EXPECT_TRUE(xt::all(xt::equal(a["layers.0.hc_attn_scale"], 0.5f)));
    const auto& wo_b = a["layers.0.attn.wo_b.weight"];  // [D, G*R]: ±1/sqrt(256)
    EXPECT_LE(xt::amax(xt::abs(wo_b))(), 1.0f / 16.0f);
    EXPECT_GT(xt::amax(xt::abs(wo_b))(), 0.9f / 16.0f);
    const auto& table = a.tid2eid_table(0);
    for (size_t r = 0; r < table.shape(0); ++r) {
        const std::set<int32_t> row(&table(r, 0), &table(r, 0) + table.shape(1));
        ASSERT_EQ(row.size(), table.shape(1)) << "row " << r;
        ASSERT_GE(*row.begin(), 0);
        ASSERT_LT(*row.rbegin(), flash_mini.n_routed_experts);
    }
}

TEST(Parameters, ZerosLikeHasTheSameLayout) {
    const auto p = parameters::random(flash_mini, 5);
    const auto g = parameters::zeros_like(p);
    EXPECT_EQ(g.names(), p.names());
    for (const auto& name : p.names()) {
        ASSERT_EQ(g[name].shape(), p[name].shape()) << name;
        ASSERT_TRUE(xt::all(xt::equal(g[name], 0.0f))) << name;
    }
    EXPECT_TRUE(same_bits(g.tid2eid_table(0), p.tid2eid_table(0)));
    const parameters zero(flash_mini);
    EXPECT_TRUE(xt::all(xt::equal(zero.tid2eid_table(0), 0)));
}

TEST(Parameters, RandomParametersGenerate) {
    const auto p = parameters::random(flash_mini, 21);
    const auto m = dsv4::train::make_model(p, {.threads = 2});
    dsv4::generate_options opt;
    opt.max_new_tokens = 6;
    opt.eos = std::nullopt;
    const auto out = dsv4::generate(*m, {{5, 17, 3}, {200, 1, 2, 9, 44}}, opt);
    ASSERT_EQ(out.size(), 2u);
    for (const auto& g : out) {
        EXPECT_EQ(g.tokens.size(), 6u);
        for (auto t : g.tokens) EXPECT_TRUE(t >= 0 && t < flash_mini.vocab_size);
    }
    EXPECT_EQ(dsv4::generate(*m, {{5, 17, 3}}, opt)[0].tokens, out[0].tokens);
}

}  // namespace
