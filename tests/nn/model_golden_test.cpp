// The whole forward pass against the official reference's outputs (tests/data/golden):
// prefill and decode logits, MTP logits, and every intermediate the golden files hold
// (mHC split, window ring, attention outputs, indexer selections and keys, compressed KV,
// routing, block outputs), for every public case.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>

#include "../support/golden.hpp"
#include "../support/test_util.hpp"

#include <algorithm>
#include <set>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::values;
using dsv4::testing::floats_of;
using dsv4::testing::golden;
using dsv4::testing::ints_of;
using dsv4::testing::slice;

std::vector<std::vector<int32_t>> prompts(const std::string& file) { return dsv4::testing::prompts_of(golden(file)); }

// One batch row of a golden run: prefill, then the reference's decode loop, with the MTP
// block beside it, recording everything the expected file can be compared with.
struct row_run {
    std::vector<float> prefill_last, prefill_all, mtp_prefill, hidden_last;
    std::vector<std::vector<float>> decode, mtp_decode;
    std::vector<dsv4::layer_state> after_prefill, final_state;
    dsv4::nn::trace trace, mtp_trace;
};

row_run run_row(const dsv4::model_core& m, const dsv4::safetensors_file& exp, const std::vector<int32_t>& prompt,
                size_t b, size_t batch) {
    row_run r;
    auto seq = m.new_sequence(4096);
    const size_t V = size_t(m.shape().vocab_size), P = prompt.size();
    const size_t hcD = size_t(m.shape().hc_mult * m.shape().dim);
    auto pre = m.forward(seq, prompt, {.all_logits = exp.find("prefill.logits_all") && b == 0, .keep_hidden = true},
                         &r.trace);
    r.prefill_last = slice(pre.logits, (pre.rows - 1) * V, V);
    if (pre.rows > 1) r.prefill_all = values(pre.logits);
    r.hidden_last = slice(pre.hidden, (P - 1) * hcD, hcD);
    r.after_prefill = seq.layers();
    const bool mtp_decode = exp.find("mtp.decode.logits") != nullptr;
    {
        const auto ids64 = ints_of(exp.at("mtp.prefill.input_ids"));
        std::vector<int32_t> ids(P);
        for (size_t t = 0; t < P; ++t) ids[t] = int32_t(ids64[b * P + t]);
        r.mtp_prefill = values(m.mtp_forward(seq, pre.hidden, ids, {}, &r.mtp_trace).logits);
    }
    const auto inputs = ints_of(exp.at("decode.input_tokens"));
    const size_t N = inputs.size() / batch;
    std::vector<int64_t> mtp_inputs;
    if (mtp_decode) mtp_inputs = ints_of(exp.at("mtp.decode.input_tokens"));
    for (size_t j = 0; j < N; ++j) {
        const int32_t tok = int32_t(inputs[j * batch + b]);
        auto d = m.forward(seq, std::span<const int32_t>(&tok, 1), {.keep_hidden = mtp_decode}, &r.trace);
        r.decode.push_back(values(d.logits));
        if (mtp_decode) {
            const int32_t mt = int32_t(mtp_inputs[j * batch + b]);
            r.mtp_decode.push_back(values(m.mtp_forward(seq, d.hidden, std::span<const int32_t>(&mt, 1)).logits));
        }
    }
    r.final_state = seq.layers();
    return r;
}

std::vector<int32_t> slice_ints(const std::vector<int32_t>& v, size_t n) { return {v.begin(), v.begin() + long(n)}; }

// Compares the k routed experts of each row as sets, weights matched by expert id.
void expect_routing(const std::vector<int32_t>& got_idx, const std::vector<float>& got_w, const std::vector<int64_t>& exp_idx,
                    const std::vector<float>& exp_w, size_t k, const std::string& what) {
    ASSERT_EQ(got_idx.size(), exp_idx.size()) << what;
    std::vector<float> gw(got_w.size()), ew(exp_w.size());
    for (size_t row = 0; row < got_idx.size() / k; ++row) {
        std::vector<std::pair<int64_t, float>> g, e;
        for (size_t j = 0; j < k; ++j) {
            g.push_back({got_idx[row * k + j], got_w[row * k + j]});
            e.push_back({exp_idx[row * k + j], exp_w.empty() ? 0.0f : exp_w[row * k + j]});
        }
        std::sort(g.begin(), g.end());
        std::sort(e.begin(), e.end());
        for (size_t j = 0; j < k; ++j) {
            ASSERT_EQ(g[j].first, e[j].first) << what << " row " << row;
            gw[row * k + j] = g[j].second;
            ew[row * k + j] = e[j].second;
        }
    }
    if (!exp_w.empty()) {
        EXPECT_TRUE(close_to(gw, ew)) << what;
    }
}

void check_case(const dsv4::model_core& m, const std::string& expected_file, const std::string& tokens_file) {
    SCOPED_TRACE(expected_file);
    dsv4::safetensors_file exp(golden(expected_file));
    const auto ps = prompts(tokens_file);
    const size_t batch = ps.size(), P = ps[0].size();
    const auto& s = m.shape();
    const size_t V = size_t(s.vocab_size), D = size_t(s.dim), hc = size_t(s.hc_mult), L = size_t(s.n_layers);
    const size_t k = size_t(s.n_activated_experts);
    std::vector<row_run> runs;
    for (size_t b = 0; b < batch; ++b) runs.push_back(run_row(m, exp, ps[b], b, batch));

    // ---- logits
    const auto last = floats_of(exp.at("prefill.logits_last"));
    const auto dec = floats_of(exp.at("decode.logits"));
    const size_t N = dec.size() / (batch * V);
    const auto argmax = ints_of(exp.at("prefill.argmax"));
    if (batch > 1) {
        EXPECT_FALSE(close_to(runs[0].prefill_last, slice(last, V, V))) << "negative control";
    }
    for (size_t b = 0; b < batch; ++b) {
        EXPECT_TRUE(close_to(runs[b].prefill_last, slice(last, b * V, V))) << "prefill row " << b;
        const auto& pl = runs[b].prefill_last;
        EXPECT_EQ(std::max_element(pl.begin(), pl.end()) - pl.begin(), argmax[b]);
        for (size_t j = 0; j < N; ++j)
            EXPECT_TRUE(close_to(runs[b].decode[j], slice(dec, (j * batch + b) * V, V))) << "decode step " << j << " row " << b;
        EXPECT_TRUE(close_to(runs[b].mtp_prefill, slice(floats_of(exp.at("mtp.prefill.logits_last")), b * V, V)));
    }
    if (exp.find("prefill.logits_all")) {
        EXPECT_TRUE(close_to(runs[0].prefill_all, floats_of(exp.at("prefill.logits_all"))));
    }
    if (exp.find("mtp.decode.logits")) {
        const auto mdec = floats_of(exp.at("mtp.decode.logits"));
        for (size_t b = 0; b < batch; ++b)
            for (size_t j = 0; j < N; ++j)
                EXPECT_TRUE(close_to(runs[b].mtp_decode[j], slice(mdec, (j * batch + b) * V, V))) << "mtp decode " << j;
    }

    // ---- intermediates
    for (const auto& t : exp.tensors()) {
        const std::string& n = t.name;
        if (n.rfind("debug.", 0) != 0) continue;
        SCOPED_TRACE(n);
        if (n == "debug.prefill.block_out_last" || n == "debug.prefill.final_hidden_last") {
            const auto e = floats_of(t);
            for (size_t b = 0; b < batch; ++b)
                for (size_t l = 0; l < L; ++l) {
                    if (n == "debug.prefill.final_hidden_last" && l + 1 != L) continue;
                    const auto& bo = runs[b].trace.floats.at("layers." + std::to_string(l) + ".block_out");
                    const size_t off = n == "debug.prefill.final_hidden_last" ? b * hc * D : (l * batch + b) * hc * D;
                    EXPECT_TRUE(close_to(slice(bo, (P - 1) * hc * D, hc * D), slice(e, off, hc * D))) << "layer " << l;
                }
        } else if (n == "debug.decode.block_out") {
            const auto e = floats_of(t);
            for (size_t b = 0; b < batch; ++b)
                for (size_t l = 0; l < L; ++l)
                    for (size_t j = 0; j < N; ++j) {
                        const auto& bo = runs[b].trace.floats.at("layers." + std::to_string(l) + ".block_out");
                        EXPECT_TRUE(close_to(slice(bo, (P + j) * hc * D, hc * D), slice(e, ((j * L + l) * batch + b) * hc * D, hc * D)));
                    }
        } else if (n.find(".hc_attn_") != std::string::npos) {
            const std::string what = n.substr(n.find("layers."));  // layers.0.hc_attn_pre
            const auto e = floats_of(t);
            const size_t rows = n.ends_with("_y") ? 1 : batch;
            const size_t per = e.size() / rows;
            for (size_t b = 0; b < rows; ++b)
                EXPECT_TRUE(close_to(slice(runs[b].trace.floats.at(what), 0, per), slice(e, b * per, per)));
        } else if (n.ends_with(".attn_out")) {
            const std::string what = n.substr(n.find("layers."));
            EXPECT_TRUE(close_to(slice(runs[0].trace.floats.at(what), 0, P * D), floats_of(t)));
        } else if (n.ends_with(".window_kv")) {
            const auto e = floats_of(t);
            const size_t per = e.size() / batch;
            for (size_t b = 0; b < batch; ++b)
                EXPECT_TRUE(close_to(slice(runs[b].after_prefill[0].window, 0, per), slice(e, b * per, per)));
        } else if (n.ends_with(".indexer_kv")) {
            const size_t l = std::stoul(n.substr(n.find("layers.") + 7));
            const auto e = floats_of(t);
            const size_t per = e.size() / batch;
            for (size_t b = 0; b < batch; ++b)
                EXPECT_TRUE(close_to(runs[b].after_prefill[l].index_keys, slice(e, b * per, per)));
        } else if (n.ends_with(".compressed_kv")) {
            const size_t l = std::stoul(n.substr(n.find("layers.") + 7));
            const auto e = floats_of(t);
            const size_t per = e.size() / batch;
            for (size_t b = 0; b < batch; ++b) {
                EXPECT_EQ(runs[b].final_state[l].compressed.size(), per);
                EXPECT_TRUE(close_to(runs[b].final_state[l].compressed, slice(e, b * per, per)));
            }
        } else if (n.ends_with(".indexer_mask")) {
            const std::string what = n.substr(n.find("layers.")).replace(n.substr(n.find("layers.")).find("indexer_mask"), 12, "indexer_topk");
            const auto e = ints_of(t);
            const size_t nb = size_t(t.shape[2]), topk = size_t(s.index_topk);
            for (size_t b = 0; b < batch; ++b) {
                const auto& sel = runs[b].trace.ints.at(what);
                for (size_t q = 0; q < P; ++q) {
                    std::vector<int64_t> mask(nb, 0);
                    for (size_t j = 0; j < topk; ++j)
                        if (sel[q * topk + j] >= 0) mask[size_t(sel[q * topk + j])] = 1;
                    ASSERT_TRUE(std::equal(mask.begin(), mask.end(), e.begin() + long((b * P + q) * nb))) << "query " << q;
                }
            }
        } else if (n.ends_with(".indexer_topk")) {
            const std::string what = n.substr(n.find("layers."));
            const auto e = ints_of(t);
            const size_t topk = size_t(s.index_topk);
            for (size_t b = 0; b < batch; ++b) {
                const auto& sel = runs[b].trace.ints.at(what);
                for (size_t j = 0; j < N; ++j)
                    for (size_t i = 0; i < topk; ++i)
                        ASSERT_EQ(sel[(P + j) * topk + i], e[(j * batch + b) * topk + i]) << "step " << j;
            }
        } else if (n.ends_with(".gate_indices") || n.ends_with(".gate_weights")) {
            const bool mtp = n.find("mtp_prefill") != std::string::npos;
            const std::string layer = n.substr(n.find(mtp ? "mtp.0" : "layers."));
            const std::string base = layer.substr(0, layer.rfind('.'));
            if (n.ends_with(".gate_weights") && exp.find("debug.prefill." + base + ".gate_indices")) continue;
            if (n.ends_with(".gate_weights") && mtp) continue;  // compared with the indices
            const std::string idx_name = n.substr(0, n.rfind('.')) + ".gate_indices";
            const std::string w_name = n.substr(0, n.rfind('.')) + ".gate_weights";
            const auto ew = floats_of(exp.at(w_name));
            const auto ei = exp.find(idx_name) ? ints_of(exp.at(idx_name)) : std::vector<int64_t>{};
            for (size_t b = 0; b < batch; ++b) {
                const auto& tr = mtp ? runs[b].mtp_trace : runs[b].trace;
                const auto gi = slice_ints(tr.ints.at(base + ".gate_indices"), P * k);
                const auto gw = slice(tr.floats.at(base + ".gate_weights"), 0, P * k);
                const auto ebw = slice(ew, b * P * k, P * k);
                if (ei.empty()) {  // hash layer: experts in tid2eid order
                    EXPECT_TRUE(close_to(gw, ebw));
                } else {
                    const std::vector<int64_t> ebi(ei.begin() + long(b * P * k), ei.begin() + long((b + 1) * P * k));
                    expect_routing(gi, gw, ebi, ebw, k, base);
                }
            }
        } else {
            ADD_FAILURE() << "unchecked golden tensor " << n;
        }
    }
}

TEST(GoldenModel, FlashMini) {
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 2});
    check_case(m, "flash-mini/expected.safetensors", "flash-mini/tokens.json");
}

TEST(GoldenModel, FlashMiniShortPrompt136Steps) {
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 1});
    check_case(m, "flash-mini/expected_short.safetensors", "flash-mini/tokens_short.json");
}

TEST(GoldenModel, ProMiniInitialRevision) {
    dsv4::model<dsv4::ProMiniConfig> m(golden("pro-mini"), {.threads = 2, .shared_expert_clamp = false});
    check_case(m, "pro-mini/expected.safetensors", "pro-mini/tokens.json");
}

TEST(GoldenModel, ProMiniCurrentRevisionClampsSharedExpert) {
    dsv4::model<dsv4::ProMiniConfig> m(golden("pro-mini"), {.threads = 2});
    check_case(m, "pro-mini/expected_shared_clamp.safetensors", "pro-mini/tokens.json");
}

TEST(GoldenModel, FlashMiniFp8ReleaseLayout) {
    dsv4::model<dsv4::FlashMiniFp8Config> m(golden("flash-mini-fp8"), {.threads = 2});
    check_case(m, "flash-mini-fp8/expected.safetensors", "flash-mini-fp8/tokens.json");
}

TEST(GoldenModel, RevisionsAreToldApart) {
    // the shared-expert clamp moves pro-mini's logits far beyond the tolerance
    dsv4::model<dsv4::ProMiniConfig> m(golden("pro-mini"), {.threads = 2});
    dsv4::safetensors_file initial(golden("pro-mini/expected.safetensors"));
    auto seq = m.new_sequence(1024);
    const auto ps = prompts("pro-mini/tokens.json");
    const auto got = m.forward(seq, ps[0]).logits;
    EXPECT_FALSE(close_to(got, slice(floats_of(initial.at("prefill.logits_last")), 0, got.size())));
}

// FP8 (128x128 e8m0 tiles) and FP4 (1x32 e8m0, low nibble first) dequantise exactly.
TEST(GoldenModel, Fp8Fp4DequantisationIsBitExact) {
    dsv4::model<dsv4::FlashMiniFp8Config> m(golden("flash-mini-fp8"), {.threads = 1});
    dsv4::safetensors_file check(golden("flash-mini-fp8/dequant_check.safetensors"));
    const auto& w = m.weights();
    const std::vector<std::pair<std::string, const dsv4::kernels::linear_weight*>> mats = {
        {"layers.0.attn.wq_b.weight", &w.layers[0].attn.wq_b},
        {"layers.0.attn.wkv.weight", &w.layers[0].attn.wkv},
        {"layers.0.attn.wo_a.weight", &w.layers[0].attn.wo_a},
        {"layers.0.attn.wo_b.weight", &w.layers[0].attn.wo_b},
        {"layers.0.ffn.shared_experts.w2.weight", &w.layers[0].ffn.shared.w2},
        {"layers.1.ffn.experts.1.w1.weight", &w.layers[1].ffn.experts[1].w1},
        {"layers.1.ffn.experts.0.w2.weight", &w.layers[1].ffn.experts[0].w2},
        {"layers.1.attn.compressor.wkv.weight", &w.layers[1].attn.compressor.wkv},
        {"mtp.0.e_proj.weight", &w.mtp[0].e_proj},
    };
    for (const auto& [name, lw] : mats) {
        const auto e = floats_of(check.at(name));
        std::vector<float> row(lw->in);
        for (size_t n = 0; n < lw->out; ++n) {
            const float* r = dsv4::kernels::weight_row(*lw, n, row.data());
            for (size_t c = 0; c < lw->in; ++c) ASSERT_EQ(r[c], e[n * lw->in + c]) << name << " [" << n << ", " << c << "]";
        }
    }
    EXPECT_EQ(w.layers[0].attn.wq_b.format, dsv4::weight_format::fp8_e4m3);
    EXPECT_EQ(w.layers[1].ffn.experts[1].w1.format, dsv4::weight_format::fp4_e2m1);
    EXPECT_EQ(values(w.layers[0].ffn_norm), floats_of(check.at("layers.0.ffn_norm.weight")));
}

}  // namespace
