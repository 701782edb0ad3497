// dsv4/runtime/generate.hpp — generation for a batch of prompts.
//
// Each prompt is its own sequence: prefill once, then one token per step until
// max_new_tokens, EOS (the EOS token is reported and ends that sequence; it is never fed
// back) or the caller's stop condition. on_token(row, token) is called as tokens are
// chosen, for streaming. A row's first tokens may be forced (replaying a known completion):
// they are taken instead of sampled and draw nothing from the random stream.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include <dsv4/error.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/runtime/sampling.hpp>

namespace dsv4 {

struct generate_options {
    int max_new_tokens = 64;
    float temperature = 0.0f;
    uint64_t seed = 33377335;           // generate.py's seed
    std::optional<int32_t> eos = 1;     // stop token; nullopt = never stop early
    // forced[b]: the first generated tokens of prompt b, taken instead of sampled (rows
    // without an entry sample from the start)
    std::vector<std::vector<int32_t>> forced;
    // Called after each token (and after on_token) with the row and its tokens so far;
    // returning true ends that row there (e.g. a parser rejected the text).
    std::function<bool(size_t row, std::span<const int32_t> tokens)> stop;
};

struct generation {
    std::vector<int32_t> tokens;  // generated tokens (EOS included when hit)
    bool hit_eos = false;
    bool stopped = false;         // ended by generate_options::stop
    double prefill_seconds = 0;
    double decode_seconds = 0;
};

inline std::vector<generation> generate(const model_core& m, const std::vector<std::vector<int32_t>>& prompts,
                                        const generate_options& opt,
                                        const std::function<void(size_t, int32_t)>& on_token = {}) {
    if (opt.max_new_tokens < 0) fail("generate: max_new_tokens must be >= 0, got ", opt.max_new_tokens);
    if (opt.eos && (*opt.eos < 0 || *opt.eos >= m.shape().vocab_size))
        fail("generate: eos id ", *opt.eos, " is outside the vocabulary [0, ", m.shape().vocab_size, ")");
    using clock = std::chrono::steady_clock;
    const size_t V = size_t(m.shape().vocab_size);
    if (opt.forced.size() > prompts.size())
        fail("generate: forced tokens for ", opt.forced.size(), " prompts, but ", prompts.size(), " prompts given");
    for (size_t b = 0; b < opt.forced.size(); ++b)
        for (size_t i = 0; i < opt.forced[b].size(); ++i)
            if (opt.forced[b][i] < 0 || size_t(opt.forced[b][i]) >= V)
                fail("generate: forced token ", i, " of prompt ", b, " has id ", opt.forced[b][i], ", expected [0, ", V, ")");
    for (size_t b = 0; b < prompts.size(); ++b)
        if (prompts[b].empty()) fail("generate: prompt ", b, " is empty");
    std::mt19937_64 rng(opt.seed);
    std::vector<generation> out(prompts.size());
    if (opt.max_new_tokens == 0) return out;
    // the next token of row b: forced while its list lasts, else sampled
    auto choose = [&](size_t b, const forward_result& r) {
        const size_t i = out[b].tokens.size();
        if (b < opt.forced.size() && i < opt.forced[b].size()) return opt.forced[b][i];
        return sample_token(r.logits.data(), V, opt.temperature, rng);
    };
    std::vector<sequence_state> seqs;
    std::vector<int32_t> next(prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) {
        seqs.push_back(m.new_sequence(int64_t(prompts[b].size()) + opt.max_new_tokens));
        const auto t0 = clock::now();
        const auto r = m.forward(seqs[b], prompts[b]);
        out[b].prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
        next[b] = choose(b, r);
    }
    for (int step = 0; step < opt.max_new_tokens; ++step) {
        bool any = false;
        for (size_t b = 0; b < prompts.size(); ++b) {
            auto& g = out[b];
            if (g.hit_eos || g.stopped || int(g.tokens.size()) >= opt.max_new_tokens) continue;
            g.tokens.push_back(next[b]);
            if (on_token) on_token(b, next[b]);
            if (opt.eos && next[b] == *opt.eos) {
                g.hit_eos = true;
                continue;
            }
            if (opt.stop && opt.stop(b, g.tokens)) {
                g.stopped = true;
                continue;
            }
            if (int(g.tokens.size()) >= opt.max_new_tokens) continue;
            const auto t0 = clock::now();
            const auto r = m.forward(seqs[b], std::span<const int32_t>(&next[b], 1));
            g.decode_seconds += std::chrono::duration<double>(clock::now() - t0).count();
            next[b] = choose(b, r);
            any = true;
        }
        if (!any) break;
    }
    return out;
}

}  // namespace dsv4
