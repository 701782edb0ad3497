// bench/bench_common.hpp — pieces shared by the benchmark executables: the thread count,
// the quick switch, and the list of weight matrices of the benchmark shape (BenchMiniConfig)
// with the storage format each has in the release checkpoint.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <xsimd/xsimd.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/config/mini.hpp>
#include <dsv4/config/tensor_list.hpp>

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

// Every matrix product of the main model's layer kinds and the head, named after its tensor
// in the tensor list (config/tensor_list.hpp; "{e}." of the experts dropped, compressors
// marked with their layer kind, whose widths differ). wo_a is used one output group at a time.
inline std::vector<matrix_use> matrix_uses(const model_shape& s = mini) {
    std::vector<matrix_use> u;
    for_each_tensor(s, [&](const tensor_desc& t) {
        const bool product = t.is_matrix() || (t.role == tensor_role::small_float && t.rank == 2 && t.id != tensor_id::embed);
        if (!product || t.block >= s.n_layers) return;
        std::string name(tensor_path(t.id));
        if (const size_t at = name.find("{e}."); at != std::string::npos) name.erase(at, 4);
        if (name.ends_with(".weight")) name.resize(name.size() - 7);
        if (name.find("compressor") != std::string::npos) name += "(" + std::string(to_string(s.kind(t.block))) + ")";
        int64_t out = t.dims[0];
        if (t.id == tensor_id::wo_a) {
            out = s.o_lora_rank;
            name += "[g]";
        }
        const matrix_use use{name, out, t.dims[1], storage_format(s, t.role)};
        const bool seen = std::any_of(u.begin(), u.end(), [&](const matrix_use& o) {
            return o.name == use.name && o.out == use.out && o.in == use.in && o.format == use.format;
        });
        if (!seen) u.push_back(use);
    });
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

// Streaming-read bandwidth over byte ranges already in memory, measured now on `threads`
// threads: the faster of two passes, in bytes/s. Decode figures are divided by the one taken
// next to them (before and after their timed loop), so that on a shared host whose DRAM
// bandwidth drifts between minutes (this one measured 23 to 77 GB/s) each figure meets the
// bandwidth of its own moment. Integer XOR of 64-byte vectors: any bytes are fine.
struct byte_range {
    const std::byte* data;
    size_t bytes;
};
inline double read_bandwidth(const std::vector<byte_range>& ranges, int threads, int passes = 2) {
    using batch = xsimd::batch<uint64_t>;
    constexpr size_t V = batch::size * sizeof(uint64_t), piece = size_t(1) << 20;
    std::vector<byte_range> pieces;
    size_t total = 0;
    for (const auto& r : ranges)
        for (size_t o = 0; o + V <= r.bytes; o += piece) {
            const size_t n = std::min(piece, r.bytes - o) / (4 * V) * (4 * V);
            if (n == 0) continue;
            pieces.push_back({r.data + o, n});
            total += n;
        }
    std::vector<uint64_t> sink(pieces.size());
    oneapi::tbb::task_arena arena(threads);
    double best = 0;
    for (int pass = 0; pass < passes; ++pass) {
        const auto t0 = std::chrono::steady_clock::now();
        arena.execute([&] {
            oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<size_t>(0, pieces.size()), [&](const auto& rg) {
                for (size_t i = rg.begin(); i < rg.end(); ++i) {
                    const auto* p = reinterpret_cast<const uint64_t*>(pieces[i].data);
                    constexpr size_t L = batch::size;
                    batch a0(uint64_t(0)), a1(uint64_t(0)), a2(uint64_t(0)), a3(uint64_t(0));
                    for (size_t k = 0; k < pieces[i].bytes / sizeof(uint64_t); k += 4 * L) {
                        a0 ^= batch::load_unaligned(p + k);
                        a1 ^= batch::load_unaligned(p + k + L);
                        a2 ^= batch::load_unaligned(p + k + 2 * L);
                        a3 ^= batch::load_unaligned(p + k + 3 * L);
                    }
                    alignas(64) uint64_t lanes[L];
                    ((a0 ^ a1) ^ (a2 ^ a3)).store_aligned(lanes);
                    uint64_t x = 0;
                    for (size_t l = 0; l < L; ++l) x ^= lanes[l];
                    sink[i] = x;
                }
            }, oneapi::tbb::static_partitioner());
        });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(sink.data());
        best = std::max(best, double(total) / s);
    }
    return best;
}

// A decode figure paired with the bandwidth of its own moment: `rounds` times, one read pass
// over `ranges` and then `work()` (which returns its bytes/s), back to back within a few ms;
// the median of the per-round ratios and of the read bandwidths. On a host whose DRAM bandwidth
// swings 2x from one second to the next, only figures measured this close together compare.
struct paired_figure {
    double ratio = 0, bandwidth = 0;
};
template <class Work>
paired_figure paired_with_bandwidth(const std::vector<byte_range>& ranges, int threads, int rounds, Work&& work) {
    std::vector<double> ratios, bws;
    for (int r = 0; r < rounds; ++r) {
        const double bw = read_bandwidth(ranges, threads, 1);
        ratios.push_back(work() / bw);
        bws.push_back(bw);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    return {median(ratios), median(bws)};
}

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
