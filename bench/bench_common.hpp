// bench/bench_common.hpp — pieces shared by the benchmark executables: the thread count,
// the quick switch, and the list of weight matrices of the benchmark shape (BenchMiniConfig)
// with the storage format each has in the release checkpoint.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <oneapi/tbb/task_arena.h>

#include <dsv4/config/config.hpp>
#include <dsv4/config/mini.hpp>

namespace dsv4::bench {

// DSV4_BENCH_THREADS (default: all hardware threads).
inline int threads() {
    if (const char* s = std::getenv("DSV4_BENCH_THREADS"); s && std::atoi(s) > 0) return std::atoi(s);
    return oneapi::tbb::this_task_arena::max_concurrency();
}

// DSV4_BENCH_QUICK=1: fewer repetitions and smaller sweeps (development runs).
inline bool quick() {
    const char* s = std::getenv("DSV4_BENCH_QUICK");
    return s && s[0] && s[0] != '0';
}

inline constexpr model_shape mini = shape_of<BenchMiniConfig>();

// One use of a weight matrix: W [out, in] stored as `format`.
struct matrix_use {
    std::string name;
    int64_t out, in;
    weight_format format;
};

// Every matrix product of one main-model layer kind and the head, named as in the checkpoint.
inline std::vector<matrix_use> matrix_uses(const model_shape& s = mini) {
    const int64_t D = s.dim, hd = s.head_dim, q = s.q_lora_rank, I = s.moe_inter_dim;
    const int64_t id = s.index_head_dim, ih = s.index_n_heads;
    const auto dense = s.dense_format, expert = s.expert_format, plain = weight_format::bf16;
    std::vector<matrix_use> u = {
        {"attn.wq_a", q, D, dense},
        {"attn.wq_b", int64_t(s.n_heads) * hd, q, dense},
        {"attn.wkv", hd, D, dense},
        {"attn.wo_a[g]", s.o_lora_rank, s.group_in_dim(), dense},
        {"attn.wo_b", D, int64_t(s.o_groups) * s.o_lora_rank, dense},
        {"shared.w1/w3", I, D, dense},
        {"shared.w2", D, I, dense},
        {"experts.w1/w3", I, D, expert},
        {"experts.w2", D, I, expert},
        {"gate", s.n_routed_experts, D, plain},
        {"head", s.vocab_size, D, plain},
    };
    bool csa = false, hca = false;
    for (int l = 0; l < s.n_layers; ++l) {
        csa = csa || s.ratio(l) == 4;
        hca = hca || s.ratio(l) == 128;
    }
    if (csa) {
        u.push_back({"compressor.wkv/wgate(r4)", 2 * hd, D, plain});
        u.push_back({"indexer.wq_b", ih * id, q, dense});
        u.push_back({"indexer.weights_proj", ih, D, plain});
        u.push_back({"indexer.compressor.wkv/wgate", 2 * id, D, plain});
    }
    if (hca) u.push_back({"compressor.wkv/wgate(r128)", hd, D, plain});
    return u;
}

// Distinct [out, in] shapes (GEMM) with the names of their uses joined by ' '.
inline std::map<std::pair<int64_t, int64_t>, std::string> distinct_shapes() {
    std::map<std::pair<int64_t, int64_t>, std::string> m;
    for (const auto& u : matrix_uses()) {
        auto& names = m[{u.out, u.in}];
        names += (names.empty() ? "" : " ") + u.name;
    }
    return m;
}

// Distinct [out, in, format] (GEMV in the stored format) with their uses.
inline std::map<std::tuple<int64_t, int64_t, weight_format>, std::string> distinct_stored() {
    std::map<std::tuple<int64_t, int64_t, weight_format>, std::string> m;
    for (const auto& u : matrix_uses()) {
        auto& names = m[{u.out, u.in, u.format}];
        names += (names.empty() ? "" : " ") + u.name;
    }
    return m;
}

// Tiny deterministic generator (splitmix64) for filling large buffers quickly.
struct splitmix {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    float uniform(float a) { return a * (float(next() >> 40) * (2.0f / 16777216.0f) - 1.0f); }
};

// main() of a benchmark executable: flags, context lines for the report, the benchmarks.
inline int run(int argc, char** argv, void (*register_all)(),
               const std::vector<std::pair<std::string, std::string>>& context = {}) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    for (const auto& [k, v] : context) benchmark::AddCustomContext(k, v);
    benchmark::AddCustomContext("dsv4_threads", std::to_string(threads()));
    benchmark::AddCustomContext("dsv4_quick", quick() ? "1" : "0");
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace dsv4::bench
