// bench/train_bench.cpp — one training step of the bench-mini shape (BenchMiniConfig's
// structure, f32 master weights from train::parameters::random) on one 512-token document.
//
//   train/forward_backward/512   forward + backward of the V4 loss (tokens/s), with the shape's
//                                training FLOPs per token (train/cost.hpp) and the GFLOP/s they give
//   train/peak_rss               getrusage peak RSS against parameters + gradients + the saved
//                                activations of train::training_activation_bytes
// Its own process, so the peak RSS is the training step's alone. bench/report divides the
// tokens/s by the same run's OpenBLAS sgemm GFLOP/s ÷ the FLOPs per token.
// Threads: DSV4_BENCH_THREADS (default all); DSV4_BENCH_QUICK=1 runs one step.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include <dsv4/train/cost.hpp>
#include <dsv4/train/parameters.hpp>
#include <dsv4/train/training_step.hpp>

#include "bench_common.hpp"

namespace {

using namespace dsv4;

constexpr int64_t document_tokens = 512;

model_shape f32_shape() {
    model_shape s = bench::mini;
    s.dense_format = weight_format::f32;
    s.expert_format = weight_format::f32;
    return s;
}

struct training_setup {
    train::parameters params = train::parameters::random(f32_shape(), 2026);
    train::parameters grads = train::parameters::zeros_like(params);
    std::unique_ptr<model_core> model;
    std::vector<std::vector<int32_t>> batch;
    training_setup() {
        model_options o;
        o.threads = bench::threads();
        model = train::make_model(params, o);
        std::mt19937 rng(5);
        batch.emplace_back(size_t(document_tokens));
        for (auto& id : batch[0]) id = int32_t(rng() % uint32_t(params.shape().vocab_size));
    }
};

training_setup& setup() {
    static training_setup s;
    return s;
}

void forward_backward(benchmark::State& state) {
    auto& s = setup();
    train::step_result res;
    for (auto _ : state) {
        res = train::forward_backward(*s.model, s.params, s.batch, {}, s.grads);
        benchmark::DoNotOptimize(res.loss.total);
    }
    const double flops = train::training_flops_per_token(s.params.shape(), document_tokens);
    state.counters["tokens_per_second"] =
        benchmark::Counter(double(document_tokens), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["training_flops_per_token"] = flops;
    state.counters["gflops"] = benchmark::Counter(flops * double(document_tokens) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void peak_rss(benchmark::State& state) {
    auto& s = setup();
    for (auto _ : state) benchmark::DoNotOptimize(s.params.names().size());
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const model_shape sh = s.params.shape();
    state.counters["peak_rss_bytes"] = double(ru.ru_maxrss) * 1024.0;
    state.counters["parameter_bytes"] = double(train::parameter_bytes(sh));
    state.counters["activation_bytes"] = double(train::training_activation_bytes(sh, document_tokens));
}

void register_all() {
    const bool q = bench::quick();
    benchmark::RegisterBenchmark("train/forward_backward", forward_backward)
        ->Arg(document_tokens)
        ->Iterations(q ? 1 : 2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("train/peak_rss", peak_rss)->Iterations(1);
}

}  // namespace

int main(int argc, char** argv) { return dsv4::bench::run(argc, argv, register_all); }
