// The whole forward pass against the official reference's outputs (tests/data/golden):
// prefill and decode logits, MTP logits and intermediates, for every public case.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>

#include "../support/golden.hpp"
#include "../support/test_util.hpp"

#include <nlohmann/json.hpp>

namespace {

using dsv4::testing::close_to;
using dsv4::testing::floats_of;
using dsv4::testing::golden;
using dsv4::testing::ints_of;
using dsv4::testing::slice;

std::vector<std::vector<int32_t>> prompts(const std::string& file) {
    const auto j = nlohmann::json::parse(dsv4::read_text_file(golden(file)));
    return j.at("prompts").get<std::vector<std::vector<int32_t>>>();
}

struct run_result {
    std::vector<float> prefill_last, prefill_all, mtp_prefill;
    std::vector<std::vector<float>> decode, mtp_decode;  // [step][V]
    dsv4::nn::trace trace;
};

// Prefill row b's prompt, then decode the expected input tokens one per call (the
// reference loop), running the MTP block beside it when the file has MTP outputs.
run_result run_case(const dsv4::model_core& m, const dsv4::safetensors_file& exp, const std::vector<int32_t>& prompt,
                    size_t b, size_t batch, bool with_mtp, bool all_logits) {
    run_result r;
    auto seq = m.new_sequence(4096);
    const size_t V = size_t(m.shape().vocab_size);
    auto pre = m.forward(seq, prompt, {all_logits, true}, &r.trace);
    r.prefill_last = slice(pre.logits, (pre.rows - 1) * V, V);
    if (all_logits) r.prefill_all = pre.logits;
    if (with_mtp) {
        const auto ids64 = ints_of(exp.at("mtp.prefill.input_ids"));
        const size_t P = prompt.size();
        std::vector<int32_t> ids(P);
        for (size_t t = 0; t < P; ++t) ids[t] = int32_t(ids64[b * P + t]);
        auto mp = m.mtp_forward(seq, pre.hidden, ids, {});
        r.mtp_prefill = mp.logits;
    }
    const auto inputs = ints_of(exp.at("decode.input_tokens"));
    const size_t N = inputs.size() / batch;
    std::vector<int64_t> mtp_inputs;
    if (with_mtp) mtp_inputs = ints_of(exp.at("mtp.decode.input_tokens"));
    for (size_t j = 0; j < N; ++j) {
        const int32_t tok = int32_t(inputs[j * batch + b]);
        auto d = m.forward(seq, std::span<const int32_t>(&tok, 1), {false, with_mtp}, &r.trace);
        r.decode.push_back(d.logits);
        if (with_mtp) {
            const int32_t mt = int32_t(mtp_inputs[j * batch + b]);
            r.mtp_decode.push_back(m.mtp_forward(seq, d.hidden, std::span<const int32_t>(&mt, 1)).logits);
        }
    }
    return r;
}

void expect_logits(const dsv4::safetensors_file& exp, const std::vector<run_result>& runs, bool with_mtp) {
    const auto last = floats_of(exp.at("prefill.logits_last"));
    const size_t batch = runs.size(), V = last.size() / batch;
    const auto dec = floats_of(exp.at("decode.logits"));
    const size_t N = dec.size() / (batch * V);
    // negative control: the comparison tells the two rows apart
    if (batch > 1) {
        EXPECT_FALSE(close_to(runs[0].prefill_last, slice(last, V, V)));
    }
    for (size_t b = 0; b < batch; ++b) {
        EXPECT_TRUE(close_to(runs[b].prefill_last, slice(last, b * V, V))) << "prefill row " << b;
        for (size_t j = 0; j < N; ++j)
            EXPECT_TRUE(close_to(runs[b].decode[j], slice(dec, (j * batch + b) * V, V))) << "decode step " << j << " row " << b;
    }
    if (!with_mtp) return;
    const auto mlast = floats_of(exp.at("mtp.prefill.logits_last"));
    const auto mdec = floats_of(exp.at("mtp.decode.logits"));
    for (size_t b = 0; b < batch; ++b) {
        EXPECT_TRUE(close_to(runs[b].mtp_prefill, slice(mlast, b * V, V))) << "mtp prefill row " << b;
        for (size_t j = 0; j < N; ++j)
            EXPECT_TRUE(close_to(runs[b].mtp_decode[j], slice(mdec, (j * batch + b) * V, V))) << "mtp decode " << j;
    }
}

TEST(GoldenModel, FlashMiniPrefillDecodeMtp) {
    dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 2});
    dsv4::safetensors_file exp(golden("flash-mini/expected.safetensors"));
    const auto ps = prompts("flash-mini/tokens.json");
    std::vector<run_result> runs;
    for (size_t b = 0; b < ps.size(); ++b) runs.push_back(run_case(m, exp, ps[b], b, ps.size(), true, b == 0));
    expect_logits(exp, runs, true);
    EXPECT_TRUE(close_to(runs[0].prefill_all, floats_of(exp.at("prefill.logits_all"))));
}

}  // namespace
