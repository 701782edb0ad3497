// dsv4/runtime/eval.hpp — replays the golden decode loop on a case folder and returns the
// outputs under the names and shapes of the golden expected*.safetensors files:
//   logits = forward(prompt); t0 = argmax; then N steps feeding t_j at position P + j;
//   the MTP block runs beside it with the DeepSeek convention (main streams at t, token t+1).
// tokens.json: {"prompts": [[...], ...], "greedy_continuation": [[t0, ..., tN], ...]};
// N = len(greedy_continuation[0]) - 1 (or `steps` when given).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/runtime/sampling.hpp>

namespace dsv4 {

struct eval_case {
    std::vector<std::vector<int32_t>> prompts;
    size_t steps = 0;
};

inline eval_case read_eval_case(const std::string& tokens_file, std::optional<size_t> steps = std::nullopt) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_text_file(tokens_file));
    } catch (const nlohmann::json::exception& e) {
        fail(tokens_file, ": not valid JSON: ", e.what());
    }
    eval_case c;
    try {
        c.prompts = j.at("prompts").get<std::vector<std::vector<int32_t>>>();
        if (steps) c.steps = *steps;
        else if (j.contains("greedy_continuation"))
            c.steps = j.at("greedy_continuation").at(0).size() - 1;
    } catch (const nlohmann::json::exception& e) {
        fail(tokens_file, ": expected {\"prompts\": [[ids...]...], \"greedy_continuation\": ...}: ", e.what());
    }
    if (c.prompts.empty()) fail(tokens_file, ": 'prompts' is empty");
    for (size_t b = 0; b < c.prompts.size(); ++b)
        if (c.prompts[b].size() != c.prompts[0].size() || c.prompts[b].empty())
            fail(tokens_file, ": prompt ", b, " has ", c.prompts[b].size(), " tokens; every prompt needs the same, non-zero length");
    return c;
}

inline std::vector<tensor_to_write> run_eval(const model_core& m, const eval_case& c) {
    const size_t B = c.prompts.size(), P = c.prompts[0].size(), N = c.steps, V = size_t(m.shape().vocab_size);
    const bool mtp = m.shape().n_mtp_layers > 0;
    std::vector<float> last(B * V), dec(N * B * V), mtp_last(B * V), mtp_dec(N * B * V);
    std::vector<int64_t> argmax0(B), dec_in(N * B), dec_arg(N * B), pos(N), mtp_ids(B * P), mtp_in(N * B);
    for (size_t j = 0; j < N; ++j) pos[j] = int64_t(P + j);
    for (size_t b = 0; b < B; ++b) {
        auto seq = m.new_sequence(int64_t(P + N + 1));
        const auto pre = m.forward(seq, c.prompts[b], {.keep_hidden = mtp});
        std::copy(pre.logits.begin(), pre.logits.end(), last.begin() + long(b * V));
        int32_t t = argmax(pre.logits.data(), V);
        argmax0[b] = t;
        if (mtp) {
            std::vector<int32_t> ids(c.prompts[b].begin() + 1, c.prompts[b].end());
            ids.push_back(t);
            for (size_t i = 0; i < P; ++i) mtp_ids[b * P + i] = ids[i];
            const auto mp = m.mtp_forward(seq, pre.hidden, ids);
            std::copy(mp.logits.begin(), mp.logits.end(), mtp_last.begin() + long(b * V));
        }
        for (size_t j = 0; j < N; ++j) {
            dec_in[j * B + b] = t;
            const auto d = m.forward(seq, std::span<const int32_t>(&t, 1), {.keep_hidden = mtp});
            std::copy(d.logits.begin(), d.logits.end(), dec.begin() + long((j * B + b) * V));
            t = argmax(d.logits.data(), V);
            dec_arg[j * B + b] = t;
            if (mtp) {
                mtp_in[j * B + b] = t;
                const auto md = m.mtp_forward(seq, d.hidden, std::span<const int32_t>(&t, 1));
                std::copy(md.logits.begin(), md.logits.end(), mtp_dec.begin() + long((j * B + b) * V));
            }
        }
    }
    const int64_t b = int64_t(B), n = int64_t(N), v = int64_t(V), p = int64_t(P);
    std::vector<tensor_to_write> out = {
        tensor_to_write::from("prefill.logits_last", dtype::f32, {b, v}, last),
        tensor_to_write::from("prefill.argmax", dtype::i64, {b}, argmax0),
        tensor_to_write::from("decode.input_tokens", dtype::i64, {n, b}, dec_in),
        tensor_to_write::from("decode.positions", dtype::i64, {n}, pos),
        tensor_to_write::from("decode.logits", dtype::f32, {n, b, v}, dec),
        tensor_to_write::from("decode.argmax", dtype::i64, {n, b}, dec_arg),
    };
    if (mtp) {
        out.push_back(tensor_to_write::from("mtp.prefill.input_ids", dtype::i64, {b, p}, mtp_ids));
        out.push_back(tensor_to_write::from("mtp.prefill.logits_last", dtype::f32, {b, v}, mtp_last));
        out.push_back(tensor_to_write::from("mtp.decode.input_tokens", dtype::i64, {n, b}, mtp_in));
        out.push_back(tensor_to_write::from("mtp.decode.logits", dtype::f32, {n, b, v}, mtp_dec));
    }
    return out;
}

}  // namespace dsv4
