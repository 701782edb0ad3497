// bench/kernels_bench.cpp — kernel benchmarks of the bench-mini shape, each with its anchor.
//
//   bandwidth/stream_read      AVX-512 (xsimd) sum over a 1 GiB buffer on the bench threads:
//                              the streaming-read bandwidth every decode figure is divided by.
//   gemm/dsv4_f32/NxK          prefill product y[512, N] = x[512, K] · Wᵀ with f32 weights,
//   gemm/dsv4_bf16/NxK         the same with bf16 weights (dsv4::nn::linear on a context),
//   gemm/dsv4_bf16dot/NxK      the shapes of BF16 tensors (head, gate, compressors) as the model
//                              runs them under quantize_activations: activations rounded to bf16,
//                              the AVX512-BF16 GEMM (linear_bf16.hpp) through dsv4::nn::linear,
//   gemm_openblas/f32/NxK      the anchor: cblas_sgemm on the same f32 shape. Run it in its own
//                              process with OPENBLAS_CORETYPE=SkylakeX (bench/report does); the
//                              core OpenBLAS chose is in the context as openblas_corename.
//   gemm_train/<ta><tb>/MxNxK  C[M, N] = op(A)·op(B) in f32 through dsv4::nn::gemm (kernels/gemm.hpp)
//                              for the four transpose combinations (n: as stored, t: transposed) on
//                              training shapes of a 512-token batch and bench-mini weights W[out, in]:
//                              dX = dY·W (nn: 512 x in x out), dW = dYᵀ·X (tn: out x in x 512),
//                              y = X·Wᵀ (nt: 512 x out x in), each shape in all four combinations,
//   gemm_train_openblas/<ta><tb>/MxNxK  the anchor: cblas_sgemm of the same operation (run it
//                              with OPENBLAS_CORETYPE=SkylakeX, as for gemm_openblas).
//   gemv/dsv4_<fmt>/NxK        decode product (M = 1) with the weight in its stored format
//   gemv/dsv4_<fmt>_actquant/NxK  the same with the input rounded as the official inference does
//                              (FP8 dense, FP4 routed experts, bf16 head/gate/compressors),
//                              rotating over copies filling 512 MiB (well beyond the L3) so the
//                              weights come from DRAM; bytes_per_second = weight bytes read.
//   gemm_stored/dsv4_<fmt>/NxK/M:m  prefill product of the FP8 / FP4 shapes in that format, M = 512
//                              and, for routed experts, M = 512 * 6 / 64 = 48 (one expert's share).
// Every product is checked against a double-precision reference on sampled outputs.
// Threads: DSV4_BENCH_THREADS (default all); DSV4_BENCH_QUICK=1 shrinks the bandwidth buffer.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>
#include <xsimd/xsimd.hpp>

#include <dsv4/kernels/linear.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/context.hpp>
#include <dsv4/tensor/number_formats.hpp>

#include "bench_common.hpp"

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

namespace {

using namespace dsv4;
using dsv4::kernels::linear_weight;

constexpr size_t prefill_rows = 512;

struct aligned_buffer {
    struct del {
        void operator()(void* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte, del> p;
    size_t n = 0;
    explicit aligned_buffer(size_t bytes) : n(bytes) {
        const size_t rounded = (bytes + 4095) / 4096 * 4096;
        p.reset(static_cast<std::byte*>(std::aligned_alloc(4096, rounded)));
        if (!p) throw std::bad_alloc();
    }
    template <class T>
    T* as() const {
        return reinterpret_cast<T*>(p.get());
    }
};

const context& ctx() {
    static context c(bench::threads());
    return c;
}
oneapi::tbb::task_arena& arena() {
    static oneapi::tbb::task_arena a(bench::threads());
    return a;
}

// ---------------------------------------------------------------- streaming read
void stream_read(benchmark::State& state) {
    const size_t bytes = size_t(bench::quick() ? 512 : 1024) << 20;
    using batch = xsimd::batch<float>;
    constexpr size_t L = batch::size;
    const size_t n = bytes / sizeof(float), chunk = size_t(1) << 20;  // floats per task (4 MiB)
    const size_t chunks = n / chunk;
    aligned_buffer buf(bytes);
    float* data = buf.as<float>();
    arena().execute([&] {  // first touch by the threads that read it
        oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<size_t>(0, chunks), [&](const auto& r) {
            for (size_t c = r.begin(); c < r.end(); ++c) std::fill(data + c * chunk, data + (c + 1) * chunk, 1.0f);
        }, oneapi::tbb::static_partitioner());
    });
    std::vector<float> partial(chunks);
    for (auto _ : state) {
        arena().execute([&] {
            oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<size_t>(0, chunks), [&](const auto& r) {
                for (size_t c = r.begin(); c < r.end(); ++c) {
                    const float* p = data + c * chunk;
                    batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
                    for (size_t i = 0; i < chunk; i += 4 * L) {
                        a0 += batch::load_aligned(p + i);
                        a1 += batch::load_aligned(p + i + L);
                        a2 += batch::load_aligned(p + i + 2 * L);
                        a3 += batch::load_aligned(p + i + 3 * L);
                    }
                    partial[c] = xsimd::hadd((a0 + a1) + (a2 + a3));
                }
            }, oneapi::tbb::static_partitioner());
        });
        float total = 0;
        for (float v : partial) total += v;
        benchmark::DoNotOptimize(total);
        if (total != float(chunks) * float(chunk) && total != float(n)) state.SkipWithError("stream_read: wrong sum");
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(chunks * chunk * sizeof(float)));
    state.counters["threads"] = bench::threads();
    state.counters["buffer_bytes"] = double(chunks * chunk * sizeof(float));
}

// ---------------------------------------------------------------- checking
// Compares sampled outputs y[m, n] with a double reference sum_k x(m, k) * w(n, k).
template <class InputAt, class WeightAt>
bool check_at(InputAt x, const float* y, size_t M, size_t N, size_t K, WeightAt w, std::string& why,
              double tolerance = 1e-4) {
    bench::splitmix rng{42};
    for (int s = 0; s < 48; ++s) {
        const size_t m = size_t(rng.next() % M), n = size_t(rng.next() % N);
        double ref = 0, mag = 0;
        for (size_t k = 0; k < K; ++k) {
            const double p = double(x(m, k)) * double(w(n, k));
            ref += p;
            mag += std::fabs(p);
        }
        const double err = std::fabs(double(y[m * N + n]) - ref);
        if (!(err <= tolerance * mag + 1e-30)) {
            why = "output (" + std::to_string(m) + ", " + std::to_string(n) + ") = " + std::to_string(y[m * N + n]) +
                  ", reference " + std::to_string(ref);
            return false;
        }
    }
    return true;
}
// The same with x[M, K] stored row-major.
template <class WeightAt>
bool check(const float* x, const float* y, size_t M, size_t N, size_t K, WeightAt w, std::string& why,
           double tolerance = 1e-4) {
    return check_at([&](size_t m, size_t k) { return x[m * K + k]; }, y, M, N, K, w, why, tolerance);
}

// ---------------------------------------------------------------- prefill GEMM
struct gemm_data {
    std::vector<float> x, w, y;
    std::vector<uint16_t> wb;  // the same weights rounded to bf16
};

gemm_data& gemm_inputs(size_t N, size_t K) {
    static std::map<std::pair<size_t, size_t>, std::unique_ptr<gemm_data>> cache;
    auto& slot = cache[{N, K}];
    if (!slot) {
        slot = std::make_unique<gemm_data>();
        bench::splitmix rng{N * 131 + K};
        slot->x.resize(prefill_rows * K);
        for (auto& v : slot->x) v = rng.uniform(1.0f);
        slot->w.resize(N * K);
        const float a = 1.0f / std::sqrt(float(K));
        for (auto& v : slot->w) v = rng.uniform(a);
        slot->wb.resize(N * K);
        for (size_t i = 0; i < N * K; ++i) slot->wb[i] = encode_bf16(slot->w[i]);
        slot->y.resize(prefill_rows * N);
    }
    return *slot;
}

// dsv4 prefill GEMM through nn::linear: f32 or bf16 weights with f32 activations (the default),
// or with bf16_dot bf16 weights whose input rounding is bf16 (quantize_activations), which
// linear_rows runs on the AVX512-BF16 GEMM (the activations packed once per product, timed).
void gemm_dsv4(benchmark::State& state, size_t N, size_t K, weight_format f, bool bf16_dot = false) {
    auto& d = gemm_inputs(N, K);
    linear_weight w;
    w.format = f;
    w.data = f == weight_format::f32 ? static_cast<const void*>(d.w.data()) : static_cast<const void*>(d.wb.data());
    w.out = N;
    w.in = K;
    if (bf16_dot) w.input = kernels::input_rounding::bf16;
    if (bf16_dot && !kernels::bf16dot_gemm_available(w)) {
        state.SkipWithError("this build has no AVX512-BF16: bf16-rounded products run the float GEMM");
        return;
    }
    std::fill(d.y.begin(), d.y.end(), 0.0f);
    for (auto _ : state) {
        nn::linear(ctx(), d.x.data(), prefill_rows, w, d.y.data());
        benchmark::ClobberMemory();
    }
    std::string why;
    const bool ok = f == weight_format::f32
                        ? check(d.x.data(), d.y.data(), prefill_rows, N, K, [&](size_t n, size_t k) { return d.w[n * K + k]; }, why)
                        : check(d.x.data(), d.y.data(), prefill_rows, N, K,
                                [&](size_t n, size_t k) { return decode_bf16(d.wb[n * K + k]); }, why,
                                bf16_dot ? 5e-3 : 1e-4);  // bf16 activations: 2^-8 relative per product
    if (!ok) state.SkipWithError(("dsv4 GEMM is wrong: " + why).c_str());
    state.counters["flops"] = benchmark::Counter(2.0 * double(prefill_rows) * double(N) * double(K),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.counters["M"] = double(prefill_rows);
}

void gemm_openblas(benchmark::State& state, size_t N, size_t K) {
    auto& d = gemm_inputs(N, K);
    openblas_set_num_threads(bench::threads());
    std::fill(d.y.begin(), d.y.end(), 0.0f);
    const int M = int(prefill_rows), n = int(N), k = int(K);
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, n, k, 1.0f, d.x.data(), k, d.w.data(), k, 0.0f,
                    d.y.data(), n);
        benchmark::ClobberMemory();
    }
    std::string why;
    if (!check(d.x.data(), d.y.data(), prefill_rows, N, K, [&](size_t r, size_t c) { return d.w[r * K + c]; }, why))
        state.SkipWithError(("OpenBLAS sgemm is wrong: " + why).c_str());
    state.counters["flops"] = benchmark::Counter(2.0 * double(prefill_rows) * double(N) * double(K),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.counters["M"] = double(prefill_rows);
}

// ---------------------------------------------------------------- training GEMM (transposed operands)
// C[M, N] = op(A)·op(B): A stored [M, K] (ta = no) or [K, M] (yes), B stored [K, N] (tb = no) or
// [N, K] (yes); entries of A in [-1, 1], of B in [-1/sqrt(K), 1/sqrt(K)].
struct train_gemm_data {
    std::vector<float> a, b, c;
};
train_gemm_data& train_gemm_inputs(size_t M, size_t N, size_t K) {
    static std::map<std::tuple<size_t, size_t, size_t>, std::unique_ptr<train_gemm_data>> cache;
    auto& slot = cache[{M, N, K}];
    if (!slot) {
        slot = std::make_unique<train_gemm_data>();
        bench::splitmix rng{M * 7919 + N * 131 + K};
        slot->a.resize(M * K);
        for (auto& v : slot->a) v = rng.uniform(1.0f);
        slot->b.resize(K * N);
        for (auto& v : slot->b) v = rng.uniform(1.0f / std::sqrt(float(K)));
        slot->c.resize(M * N);
    }
    return *slot;
}

// dsv4 (nn::gemm on the bench context) or the OpenBLAS anchor, checked on sampled outputs.
void gemm_train(benchmark::State& state, kernels::transpose ta, kernels::transpose tb, size_t M, size_t N, size_t K,
                bool openblas) {
    using kernels::transpose;
    auto& d = train_gemm_inputs(M, N, K);
    const size_t lda = ta == transpose::no ? K : M, ldb = tb == transpose::no ? N : K;
    if (openblas) openblas_set_num_threads(bench::threads());
    std::fill(d.c.begin(), d.c.end(), 0.0f);
    for (auto _ : state) {
        if (openblas)
            cblas_sgemm(CblasRowMajor, ta == transpose::no ? CblasNoTrans : CblasTrans,
                        tb == transpose::no ? CblasNoTrans : CblasTrans, int(M), int(N), int(K), 1.0f, d.a.data(), int(lda),
                        d.b.data(), int(ldb), 0.0f, d.c.data(), int(N));
        else
            nn::gemm(ctx(), ta, tb, M, N, K, d.a.data(), lda, d.b.data(), ldb, 0.0f, d.c.data(), N);
        benchmark::ClobberMemory();
    }
    std::string why;
    const auto a_at = [&](size_t m, size_t k) { return ta == transpose::no ? d.a[m * lda + k] : d.a[k * lda + m]; };
    const auto b_at = [&](size_t n, size_t k) { return tb == transpose::no ? d.b[k * ldb + n] : d.b[n * ldb + k]; };
    if (!check_at(a_at, d.c.data(), M, N, K, b_at, why))
        state.SkipWithError(((openblas ? "OpenBLAS sgemm is wrong: " : "dsv4 GEMM is wrong: ") + why).c_str());
    state.counters["flops"] = benchmark::Counter(2.0 * double(M) * double(N) * double(K),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- decode GEMV from DRAM
// Weight bytes valid in every format: each byte in [0x30, 0x3F] with a random sign bit is a
// finite FP8 value (|v| in [0.25, 0.94]) and, as the high byte of a bf16, a normal float;
// FP4 codes are all valid. Scales (e8m0) live in their own arena, all 127 (= 1.0).
struct gemv_arena {
    size_t data_bytes = size_t(512) << 20;
    aligned_buffer data{data_bytes}, scales{data_bytes / 16 + 4096};
    gemv_arena() {
        auto* p = data.as<uint8_t>();
        const size_t chunk = size_t(1) << 20;
        arena().execute([&] {
            oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<size_t>(0, data_bytes / chunk), [&](const auto& r) {
                for (size_t c = r.begin(); c < r.end(); ++c) {
                    bench::splitmix rng{c};
                    for (size_t i = c * chunk; i < (c + 1) * chunk; i += 8) {
                        uint64_t v = rng.next();
                        for (int b = 0; b < 8; ++b, v >>= 8) p[i + size_t(b)] = uint8_t(0x30 | (v & 0x8F));
                    }
                }
            }, oneapi::tbb::static_partitioner());
        });
        std::memset(scales.as<uint8_t>(), 127, scales.n);
    }
};
gemv_arena& weights_arena() {
    static gemv_arena a;
    return a;
}

// y[M, N] = x[M, K] · Wᵀ with W in its stored format from the arena. M = 1 (decode) rotates
// over copies of W filling the arena; larger M (prefill) uses one copy (it is compute-bound).
// actquant: the weight rounds its input as the official inference does (model_options::
// quantize_activations); the check then uses the rounded activations.
void stored_product(benchmark::State& state, size_t M, size_t N, size_t K, weight_format f, bool actquant = false) {
    auto& A = weights_arena();
    linear_weight proto;
    proto.format = f;
    proto.out = N;
    proto.in = K;
    if (actquant) proto.input = kernels::reference_input_rounding(f);
    size_t data_bytes = 0, scale_bytes = 0;
    switch (f) {
        case weight_format::f32: data_bytes = N * K * 4; break;
        case weight_format::bf16: data_bytes = N * K * 2; break;
        case weight_format::fp8_e4m3:
            data_bytes = N * K;
            proto.scale_cols = (K + 127) / 128;
            scale_bytes = ((N + 127) / 128) * proto.scale_cols;
            break;
        case weight_format::fp4_e2m1:
            data_bytes = N * K / 2;
            proto.scale_cols = K / 32;
            scale_bytes = N * proto.scale_cols;
            break;
    }
    const size_t stride = (data_bytes + 63) / 64 * 64, sstride = (scale_bytes + 63) / 64 * 64;
    const size_t copies = M == 1 ? std::max<size_t>(1, A.data_bytes / stride) : 1;
    std::vector<linear_weight> ws(copies, proto);
    for (size_t i = 0; i < copies; ++i) {
        ws[i].data = A.data.as<std::byte>() + i * stride;
        ws[i].scale = scale_bytes ? A.scales.as<uint8_t>() + i * sstride : nullptr;
    }
    std::vector<float> x(M * K), y(M * N);
    bench::splitmix rng{K};
    for (auto& v : x) v = rng.uniform(1.0f);
    size_t i = 0;
    for (auto _ : state) {
        nn::linear(ctx(), x.data(), M, ws[i], y.data());
        benchmark::ClobberMemory();
        if (++i == copies) i = 0;
    }
    // check the last product against the stored weights decoded here
    const linear_weight& w = ws[i == 0 ? copies - 1 : i - 1];
    const auto* bytes = static_cast<const uint8_t*>(w.data);
    auto at = [&](size_t n, size_t k) -> float {
        switch (f) {
            case weight_format::f32: return reinterpret_cast<const float*>(bytes)[n * K + k];
            case weight_format::bf16: return decode_bf16(reinterpret_cast<const uint16_t*>(bytes)[n * K + k]);
            case weight_format::fp8_e4m3:
                return fp8_e4m3_table[bytes[n * K + k]] * decode_e8m0(w.scale[(n / 128) * w.scale_cols + k / 128]);
            case weight_format::fp4_e2m1:
                return decode_fp4_e2m1(fp4_code_at(bytes + n * (K / 2), k)) * decode_e8m0(w.scale[n * w.scale_cols + k / 32]);
        }
        return 0.0f;
    };
    std::string why;
    std::vector<float> x_seen(M * K);
    for (size_t m = 0; m < M; ++m) kernels::fake_round_row(proto.input, x.data() + m * K, K, x_seen.data() + m * K);
    if (!check(x_seen.data(), y.data(), M, N, K, at, why)) state.SkipWithError(("dsv4 product is wrong: " + why).c_str());
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(w.bytes()));
    if (M == 1) {
        // the figure paired with the bandwidth of its moment: rounds of (read 64 MiB of the
        // arena, then GEMVs over about 64 MiB of copies)
        const std::vector<bench::byte_range> probe = {{A.data.as<std::byte>() + A.data_bytes / 2, size_t(64) << 20}};
        const size_t calls = std::max<size_t>(1, (size_t(64) << 20) / stride);
        const auto p = bench::paired_with_bandwidth(probe, bench::threads(), 15, [&] {
            const auto t0 = std::chrono::steady_clock::now();
            for (size_t c = 0; c < calls; ++c) {
                nn::linear(ctx(), x.data(), M, ws[i], y.data());
                if (++i == copies) i = 0;
            }
            return double(calls * w.bytes()) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        });
        state.counters["paired_ratio"] = p.ratio;
        state.counters["paired_read_bytes_per_second"] = p.bandwidth;
    }
    state.counters["copies"] = double(copies);
    state.counters["weight_bytes"] = double(w.bytes());
    state.counters["flops"] = benchmark::Counter(2.0 * double(M) * double(N) * double(K),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.counters["M"] = double(M);
}

std::string shape_name(int64_t N, int64_t K) { return std::to_string(N) + "x" + std::to_string(K); }

void register_all() {
    benchmark::RegisterBenchmark("bandwidth/stream_read", stream_read)->UseRealTime()->Unit(benchmark::kMillisecond);
    const auto stored = bench::distinct_stored();
    for (const auto& [nk, uses] : bench::distinct_shapes()) {
        const auto [N, K] = nk;
        const std::string label = uses;
        for (auto f : {weight_format::f32, weight_format::bf16}) {
            auto* b = benchmark::RegisterBenchmark(("gemm/dsv4_" + std::string(to_string(f)) + "/" + shape_name(N, K)).c_str(),
                                                   [=](benchmark::State& s) {
                                                       s.SetLabel(label);
                                                       gemm_dsv4(s, size_t(N), size_t(K), f);
                                                   });
            b->UseRealTime()->Unit(benchmark::kMillisecond);
        }
        // the BF16 tensors of this shape, the products that take the bf16 dot-product GEMM
        const auto bf16_uses = stored.find({N, K, weight_format::bf16});
        if (bf16_uses != stored.end())
            benchmark::RegisterBenchmark(("gemm/dsv4_bf16dot/" + shape_name(N, K)).c_str(),
                                         [=, uses = bf16_uses->second](benchmark::State& s) {
                                             s.SetLabel(uses);
                                             gemm_dsv4(s, size_t(N), size_t(K), weight_format::bf16, true);
                                         })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("gemm_openblas/f32/" + shape_name(N, K)).c_str(),
                                     [=](benchmark::State& s) {
                                         s.SetLabel(label);
                                         gemm_openblas(s, size_t(N), size_t(K));
                                     })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    }
    // training products of a 512-token batch: dX and recompute of attn.wq_a [1024, 1024],
    // dW of it; dX of attn.wo_b [1024, 8192], dW of attn.wq_b [8192, 1024]
    struct train_shape {
        size_t m, n, k;
        const char* use;
    };
    const train_shape train_shapes[] = {
        {prefill_rows, 1024, 1024, "dX = dY·W (nn) or y = X·Wᵀ (nt) of attn.wq_a [1024, 1024], 512 tokens"},
        {1024, 1024, prefill_rows, "dW = dYᵀ·X (tn) of attn.wq_a [1024, 1024] over 512 tokens"},
        {prefill_rows, 8192, 1024, "dX = dY·W (nn) of attn.wo_b [1024, 8192], 512 tokens"},
        {8192, 1024, prefill_rows, "dW = dYᵀ·X (tn) of attn.wq_b [8192, 1024] over 512 tokens"}};
    for (const train_shape& t : train_shapes)
        for (auto ta : {kernels::transpose::no, kernels::transpose::yes})
            for (auto tb : {kernels::transpose::no, kernels::transpose::yes})
                for (bool openblas : {false, true}) {
                    const std::string op = std::string(ta == kernels::transpose::yes ? "t" : "n") +
                                           (tb == kernels::transpose::yes ? "t" : "n");
                    benchmark::RegisterBenchmark(((openblas ? "gemm_train_openblas/" : "gemm_train/") + op + "/" +
                                                  std::to_string(t.m) + "x" + shape_name(int64_t(t.n), int64_t(t.k)))
                                                     .c_str(),
                                                 [=](benchmark::State& s) {
                                                     s.SetLabel(t.use);
                                                     gemm_train(s, ta, tb, t.m, t.n, t.k, openblas);
                                                 })
                        ->UseRealTime()
                        ->Unit(benchmark::kMillisecond);
                }
    for (const auto& [nkf, uses] : stored) {
        const auto [N, K, f] = nkf;
        const std::string label = uses, fname(to_string(f)), shape = shape_name(N, K);
        benchmark::RegisterBenchmark(("gemv/dsv4_" + fname + "/" + shape).c_str(),
                                     [=](benchmark::State& s) {
                                         s.SetLabel(label);
                                         stored_product(s, 1, size_t(N), size_t(K), f);
                                     })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        if (f != weight_format::f32)
            benchmark::RegisterBenchmark(("gemv/dsv4_" + fname + "_actquant/" + shape).c_str(),
                                         [=](benchmark::State& s) {
                                             s.SetLabel(label + " (opt-in quantize_activations)");
                                             stored_product(s, 1, size_t(N), size_t(K), f, true);
                                         })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        // prefill in the stored format; routed experts also at the rows one expert sees on average
        std::vector<size_t> rows;
        if (f == weight_format::fp8_e4m3 || f == weight_format::fp4_e2m1) rows.push_back(prefill_rows);
        if (f == bench::mini.expert_format && uses.find("experts.") != std::string::npos)
            rows.push_back(prefill_rows * size_t(bench::mini.n_activated_experts) / size_t(bench::mini.n_routed_experts));
        for (size_t M : rows)
            benchmark::RegisterBenchmark(("gemm_stored/dsv4_" + fname + "/" + shape + "/M:" + std::to_string(M)).c_str(),
                                         [=](benchmark::State& s) {
                                             s.SetLabel(label);
                                             stored_product(s, M, size_t(N), size_t(K), f);
                                         })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* core = openblas_get_corename();
    return dsv4::bench::run(argc, argv, register_all, {{"openblas_corename", core ? core : "?"}});
}
