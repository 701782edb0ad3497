// dsv4/runtime/generate.hpp — generation for a batch of prompts.
//
// Each prompt is its own sequence: prefill once, then one token per step until
// max_new_tokens or EOS (the EOS token is reported and ends that sequence; it is never
// fed back). on_token(row, token) is called as tokens are chosen, for streaming.
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
};

struct generation {
    std::vector<int32_t> tokens;  // generated tokens (EOS included when hit)
    bool hit_eos = false;
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
    std::mt19937_64 rng(opt.seed);
    std::vector<generation> out(prompts.size());
    std::vector<sequence_state> seqs;
    std::vector<int32_t> next(prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) {
        if (prompts[b].empty()) fail("generate: prompt ", b, " is empty");
        seqs.push_back(m.new_sequence(int64_t(prompts[b].size()) + opt.max_new_tokens));
        const auto t0 = clock::now();
        const auto r = m.forward(seqs[b], prompts[b]);
        out[b].prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
        next[b] = sample_token(r.logits.data(), V, opt.temperature, rng);
    }
    for (int step = 0; step < opt.max_new_tokens; ++step) {
        bool any = false;
        for (size_t b = 0; b < prompts.size(); ++b) {
            auto& g = out[b];
            if (g.hit_eos || int(g.tokens.size()) >= opt.max_new_tokens) continue;
            g.tokens.push_back(next[b]);
            if (on_token) on_token(b, next[b]);
            if (opt.eos && next[b] == *opt.eos) {
                g.hit_eos = true;
                continue;
            }
            if (int(g.tokens.size()) >= opt.max_new_tokens) continue;
            const auto t0 = clock::now();
            const auto r = m.forward(seqs[b], std::span<const int32_t>(&next[b], 1));
            g.decode_seconds += std::chrono::duration<double>(clock::now() - t0).count();
            next[b] = sample_token(r.logits.data(), V, opt.temperature, rng);
            any = true;
        }
        if (!any) break;
    }
    return out;
}

}  // namespace dsv4
