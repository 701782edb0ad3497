// bench/model_bench.cpp — the whole bench-mini model (BenchMiniConfig, random release-layout
// FP8/FP4 weights, written once to DSV4_BENCH_DIR or <build>/bench/bench-mini).
//
//   model/info                   weight bytes read per decoded token (the roofline's denominator)
//   model/prefill/512            one 512-token prompt into a fresh sequence (tokens/s)
//   model/decode/64              64 single-token steps from an empty sequence (tokens/s)
//   model/prefill_actquant/512   model/prefill/512 with model_options::quantize_activations
//   model/decode_actquant/64     model/decode/64 with model_options::quantize_activations
//   model/decode_vs_context      decode steps at contexts 2K..64K (median step time), and the state
//                                bytes at each against the config's KV formula. The state at C is
//                                built to size: every per-layer buffer gets the size it has after C
//                                tokens (window, compressed entries, indexer keys) with random
//                                contents, so a step does the work of a real one at that depth
//                                without the minutes a real 64K prefill takes; a state from a real
//                                chunked prefill of 2K tokens ("real_2048") checks that.
//   model/peak_rss               getrusage peak RSS against weights + the most state bytes alive.
// Threads: DSV4_BENCH_THREADS (default all); DSV4_BENCH_QUICK=1 runs fewer steps and contexts.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <dsv4/config/derived.hpp>
#include <dsv4/io/random_checkpoint.hpp>
#include <dsv4/nn/model.hpp>

#include "bench_common.hpp"

namespace {

using namespace dsv4;
namespace fs = std::filesystem;
using bench_model = model<BenchMiniConfig>;

std::string folder() {
    if (const char* s = std::getenv("DSV4_BENCH_DIR"); s && *s) return s;
    return DSV4_BENCH_DEFAULT_DIR;
}

// Writes the random checkpoint once (to a side folder, renamed when complete).
void ensure_checkpoint() {
    const std::string dir = folder();
    if (fs::exists(fs::path(dir) / "config.json")) return;
    const std::string tmp = dir + ".partial";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const auto need = release_checkpoint(bench::mini).bytes() + (int64_t(256) << 20);
    if (const auto free = fs::space(tmp).available; free < uintmax_t(need))
        fail("bench: the bench-mini checkpoint needs ", need >> 20, " MiB in ", tmp, ", only ", free >> 20,
             " MiB are free (set DSV4_BENCH_DIR to another folder)");
    write_random_checkpoint(tmp, bench::mini, 2026);
    fs::remove_all(dir);
    fs::rename(tmp, dir);
}

int64_t checkpoint_file_bytes() {
    int64_t b = 0;
    for (const auto& e : fs::directory_iterator(folder()))
        if (e.path().extension() == ".safetensors") b += int64_t(e.file_size());
    return b;
}

// Calls f(w, n, routed) for every matrix of the main model; n = how many times one decoded
// token reads it (a routed expert: n_activated / n_routed on average).
template <class F>
void for_each_matrix(const nn::model_weights& W, const model_shape& s, F f) {
    f(W.head, 1.0, false);
    for (const auto& b : W.layers) {
        const auto& a = b.attn;
        for (const auto* w : {&a.wq_a, &a.wq_b, &a.wkv, &a.wo_a, &a.wo_b, &a.compressor.wkv, &a.compressor.wgate,
                              &a.indexer.wq_b, &a.indexer.weights_proj, &a.indexer.compressor.wkv,
                              &a.indexer.compressor.wgate, &b.ffn.gate, &b.ffn.shared.w1, &b.ffn.shared.w2,
                              &b.ffn.shared.w3})
            if (!w->empty()) f(*w, 1.0, false);
        const auto& ex = b.ffn.experts;
        const double share = ex.empty() ? 0.0 : double(s.n_activated_experts) / double(ex.size());
        for (const auto& e : ex)
            for (const auto* w : {&e.w1, &e.w2, &e.w3}) f(*w, share, true);
    }
}

// Reads one byte of every page of every matrix, so that no measurement pays the first
// page faults of the checkpoint mapping.
void touch_weights(const nn::model_weights& W, const model_shape& s) {
    volatile uint8_t sink = 0;
    for_each_matrix(W, s, [&](const kernels::linear_weight& w, double, bool) {
        const auto* p = static_cast<const uint8_t*>(w.data);
        for (size_t i = 0; i < w.bytes(); i += 4096) sink = sink + p[i];
        if (w.scale) sink = sink + w.scale[0];
    });
}

std::unique_ptr<bench_model> open_model(bool quantize_activations) {
    ensure_checkpoint();
    auto p = std::make_unique<bench_model>(
        folder(), model_options{.threads = bench::threads(), .quantize_activations = quantize_activations});
    touch_weights(p->weights(), p->shape());
    return p;
}
const bench_model& the_model() {
    static std::unique_ptr<bench_model> m = open_model(false);
    return *m;
}
// The opt-in numerics of the official inference (model_options::quantize_activations). A
// second mapping of the checkpoint counts in the RSS again, so bench/report runs it in a
// process of its own.
const bench_model& the_actquant_model() {
    static std::unique_ptr<bench_model> m = open_model(true);
    return *m;
}

size_t largest_state = 0;  // most sequence-state bytes alive at once so far
void note_state(const sequence_state& s) { largest_state = std::max(largest_state, s.bytes()); }

std::vector<int32_t> random_ids(size_t n, uint64_t seed) {
    bench::splitmix rng{seed};
    std::vector<int32_t> ids(n);
    for (auto& v : ids) v = int32_t(rng.next() % uint64_t(bench::mini.vocab_size));
    return ids;
}

// ---------------------------------------------------------------- weight bytes per token
size_t fv(std::span<const float> v) { return v.size() * sizeof(float); }
size_t hcw(const nn::hc_weights& h) { return fv(h.fn) + fv(h.base) + fv(h.scale); }
size_t compressor_vectors(const nn::compressor_weights& c) { return fv(c.ape) + fv(c.norm); }

struct token_bytes {
    double dense = 0;   // attention, compressors, indexer, gate, shared expert, head (stored formats)
    double routed = 0;  // n_activated_experts of n_routed_experts per layer (average expert)
    double vectors = 0; // f32 norms, mHC, sinks, biases, compressor ape as held in memory, one embedding row
    double total() const { return dense + routed + vectors; }
};

token_bytes bytes_per_token(const bench_model& m) {
    const auto& W = m.weights();
    const auto& s = m.shape();
    token_bytes t;
    for_each_matrix(W, s, [&](const kernels::linear_weight& w, double n, bool routed) {
        (routed ? t.routed : t.dense) += n * double(w.bytes());
    });
    t.vectors += double(fv(W.norm) + hcw(W.hc_head)) + double(s.dim) * (W.embed_bf16 ? 2 : 4);
    for (const auto& b : W.layers) {
        const auto& a = b.attn;
        t.vectors += double(fv(a.sink) + fv(a.q_norm) + fv(a.kv_norm) + hcw(b.hc_attn) + hcw(b.hc_ffn) +
                            fv(b.attn_norm) + fv(b.ffn_norm) + fv(b.ffn.gate_bias) + compressor_vectors(a.compressor) +
                            compressor_vectors(a.indexer.compressor));
    }
    return t;
}

void model_info(benchmark::State& state) {
    const auto& m = the_model();
    const auto t = bytes_per_token(m);
    for (auto _ : state) benchmark::DoNotOptimize(t);
    const auto rc = release_checkpoint(m.shape());
    state.counters["active_weight_bytes_per_token"] = t.total();
    state.counters["dense_bytes_per_token"] = t.dense;
    state.counters["routed_bytes_per_token"] = t.routed;
    state.counters["vector_bytes_per_token"] = t.vectors;
    state.counters["checkpoint_file_bytes"] = double(checkpoint_file_bytes());
    state.counters["checkpoint_formula_bytes"] = double(rc.bytes());
    state.counters["params"] = double(total_params(m.shape()));
    state.counters["activated_params"] = double(activated_params(m.shape()));
    state.counters["threads"] = m.ctx().threads();
    // matrices read per decoded token by kernel benchmark name (bench/report sums their GEMV times)
    std::map<std::string, double> uses;
    for_each_matrix(m.weights(), m.shape(), [&](const kernels::linear_weight& w, double n, bool) {
        uses["uses:gemv/dsv4_" + std::string(to_string(w.format)) + "/" + std::to_string(w.out) + "x" +
             std::to_string(w.in)] += n;
    });
    for (const auto& [k, n] : uses) state.counters[k] = n;
}

// ---------------------------------------------------------------- prefill and decode
// range(0) tokens into a fresh sequence, fed `chunk` at a time: the whole prompt at once
// (prefill) or one per step (decode, each step's logits computed as in generation).
// Every weight matrix of the model as a byte range (the decode anchor reads them).
std::vector<bench::byte_range> weight_ranges(const bench_model& m) {
    std::vector<bench::byte_range> r;
    for_each_matrix(m.weights(), m.shape(), [&](const kernels::linear_weight& w, double, bool) {
        r.push_back({static_cast<const std::byte*>(w.data), w.bytes()});
    });
    return r;
}

void feed_tokens(benchmark::State& state, size_t chunk, bool quantize_activations = false) {
    const auto& m = quantize_activations ? the_actquant_model() : the_model();
    const size_t n = size_t(state.range(0));
    const auto ids = random_ids(n, chunk);

    for (auto _ : state) {
        auto seq = m.new_sequence(int64_t(n));
        for (size_t i = 0; i < n; i += chunk) {
            auto r = m.forward(seq, std::span<const int32_t>(ids.data() + i, std::min(chunk, n - i)));
            benchmark::DoNotOptimize(r.logits.data());
        }
        note_state(seq);
    }
    state.counters["tokens_per_second"] =
        benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
    if (chunk == 1) {
        // decode paired with the bandwidth of its moment: rounds of (read the weights once,
        // then 8 decode steps); ratio = (tokens/s x weight bytes per token) / read bandwidth
        const double per_token = bytes_per_token(m).total();
        auto seq = m.new_sequence(int64_t(n + 8 * 9));
        for (size_t i = 0; i < n; ++i) m.forward(seq, std::span<const int32_t>(ids.data() + i, 1));
        const auto p = bench::paired_with_bandwidth(weight_ranges(m), bench::threads(), 9, [&] {
            const int32_t t = 7;
            const auto t0 = std::chrono::steady_clock::now();
            for (int s = 0; s < 8; ++s) benchmark::DoNotOptimize(m.forward(seq, std::span<const int32_t>(&t, 1)).logits.data());
            return 8.0 * per_token / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
        state.counters["paired_ratio"] = p.ratio;
        state.counters["paired_read_bytes_per_second"] = p.bandwidth;
    }
}

// A sequence state as it is after `context` tokens, with random contents.
sequence_state made_up_state(const bench_model& m, int64_t context, int64_t extra) {
    const auto& s = m.shape();
    auto seq = m.new_sequence(context + extra);
    bench::splitmix rng{uint64_t(context)};
    auto fill = [&](std::vector<float>& v, size_t n) {
        v.resize(n);
        for (auto& x : v) x = rng.uniform(1.0f);
    };
    for (auto& l : seq.layers()) {
        fill(l.window, l.window.size());
        if (l.ratio > 0) fill(l.compressed, size_t(context / l.ratio) * size_t(s.head_dim));
        if (l.ratio == 4) fill(l.index_keys, size_t(context / 4) * size_t(s.index_head_dim));
    }
    seq.advance(context);
    return seq;
}

// Decode steps at several contexts, interleaved: every round runs one step on each state in
// turn, so a change of load on a shared machine hits every context alike; medians reported.
// Counters per point P ("2048", ..., "real_2048"): median_step_seconds_P, min_step_seconds_P,
// state_bytes_P (before the steps), state_bytes_after_P, kv_formula_bf16_P, kv_formula_trained_P.
void decode_vs_context(benchmark::State& state, std::vector<int64_t> contexts, int64_t real_context, int rounds) {
    const auto& m = the_model();
    struct point {
        std::string name;
        int64_t context;
        sequence_state seq;
        size_t bytes = 0;
        std::vector<double> step;
    };
    const int warm = 2;
    const int64_t extra = rounds + warm;
    std::vector<point> pts;
    for (int64_t c : contexts) pts.push_back({std::to_string(c), c, made_up_state(m, c, extra), 0, {}});
    if (real_context > 0) {
        point p{"real_" + std::to_string(real_context), real_context, m.new_sequence(real_context + extra), 0, {}};
        const auto ids = random_ids(size_t(real_context), 3);
        const size_t chunk = 1024;
        for (size_t i = 0; i < ids.size(); i += chunk)
            m.forward(p.seq, std::span<const int32_t>(ids.data() + i, std::min(chunk, ids.size() - i)));
        pts.push_back(std::move(p));
    }
    for (auto& p : pts) p.bytes = p.seq.bytes();
    const auto ids = random_ids(size_t(extra), 4);
    auto step = [&](point& p, int r) {
        const auto t0 = std::chrono::steady_clock::now();
        auto out = m.forward(p.seq, std::span<const int32_t>(ids.data() + r, 1));
        benchmark::DoNotOptimize(out.logits.data());
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    for (auto _ : state) {
        for (int r = 0; r < warm; ++r)  // first appends, TBB wake-up: not counted
            for (auto& p : pts) step(p, r);
        for (int r = warm; r < warm + rounds; ++r)
            for (auto& p : pts) p.step.push_back(step(p, r));
    }
    size_t live = 0;
    for (auto& p : pts) {
        std::sort(p.step.begin(), p.step.end());
        state.counters["median_step_seconds_" + p.name] = p.step.empty() ? 0.0 : p.step[p.step.size() / 2];
        state.counters["min_step_seconds_" + p.name] = p.step.empty() ? 0.0 : p.step.front();
        state.counters["state_bytes_" + p.name] = double(p.bytes);
        state.counters["state_bytes_after_" + p.name] = double(p.seq.bytes());
        state.counters["kv_formula_bf16_" + p.name] = double(kv_cache_bytes(m.shape(), p.context, kv_storage::reference_bf16));
        state.counters["kv_formula_trained_" + p.name] =
            double(kv_cache_bytes(m.shape(), p.context, kv_storage::trained_precision));
        live += p.seq.bytes();
    }
    largest_state = std::max(largest_state, live);  // all these states are alive together
}

void peak_rss(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(largest_state);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    state.counters["peak_rss_bytes"] = double(ru.ru_maxrss) * 1024.0;
    state.counters["checkpoint_file_bytes"] = double(checkpoint_file_bytes());
    state.counters["largest_state_bytes"] = double(largest_state);
}

void register_all() {
    const bool q = bench::quick();
    benchmark::RegisterBenchmark("model/info", model_info)->Iterations(1);
    benchmark::RegisterBenchmark("model/prefill", [](benchmark::State& s) { feed_tokens(s, 512); })->Arg(512)->Iterations(q ? 1 : 3)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("model/decode", [](benchmark::State& s) { feed_tokens(s, 1); })->Arg(64)->Iterations(q ? 1 : 3)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("model/prefill_actquant", [](benchmark::State& s) { feed_tokens(s, 512, true); })->Arg(512)->Iterations(q ? 1 : 3)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("model/decode_actquant", [](benchmark::State& s) { feed_tokens(s, 1, true); })->Arg(64)->Iterations(q ? 1 : 3)->UseRealTime()->Unit(benchmark::kMillisecond);
    const std::vector<int64_t> contexts = q ? std::vector<int64_t>{2048, 16384, 65536}
                                            : std::vector<int64_t>{2048, 4096, 8192, 16384, 32768, 65536};
    benchmark::RegisterBenchmark("model/decode_vs_context",
                                 [=](benchmark::State& s) { decode_vs_context(s, contexts, 2048, q ? 6 : 20); })
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("model/peak_rss", peak_rss)->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) { return dsv4::bench::run(argc, argv, register_all); }
