// bench/tokenizer/tokenizer_bench.cpp — how fast dsv4::text::tokenizer loads and encodes.
//
// Figures (all wall-clock, medians of repetitions), on tests/data/golden-tokenizer:
//   load           tokenizer::from_file(tokenizer.json)
//   encode_cold    one thread, long_text.txt on a freshly loaded tokenizer (empty word cache)
//   encode_warm    one thread, long_text.txt again on the same tokenizer
//   encode_batch   long_text.txt cut into documents after each blank line ("\n\n"), all
//                  documents encoded with tbb::parallel_for on all threads (warm cache)
// hf_anchor.js measures the same four figures with Hugging Face tokenizers; given its JSON
// with --hf-anchor=FILE (or --hf-unavailable=REASON), this program ends with a Markdown
// table of the ratios on stdout (the usual benchmark output then goes to stderr), which
// bench/tokenizer/report.sh prints. Otherwise it is an ordinary Google Benchmark executable.
// MB = 10^6 bytes of UTF-8 input. DSV4_BENCH_QUICK=1: fewer repetitions.
#include <benchmark/benchmark.h>

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/text/tokenizer.hpp>

namespace {

using dsv4::text::tokenizer;

const std::string tokenizer_path = DSV4_TOKENIZER_DATA "/tokenizer.json";
const std::string text_path = DSV4_TOKENIZER_DATA "/long_text.txt";

bool quick() {
    const char* s = std::getenv("DSV4_BENCH_QUICK");
    return s && s[0] && s[0] != '0';
}
int repetitions() { return quick() ? 3 : 7; }

const std::string& long_text() {
    static const std::string text = [] {
        std::ifstream f(text_path, std::ios::binary);
        if (!f) {
            std::fprintf(stderr, "cannot open %s\n", text_path.c_str());
            std::exit(1);
        }
        std::ostringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }();
    return text;
}

// The documents of the batch: the text cut after each "\n\n" (hf_anchor.js cuts the same way),
// so that their concatenation is the text.
const std::vector<std::string>& documents() {
    static const std::vector<std::string> docs = [] {
        std::vector<std::string> out;
        const std::string& t = long_text();
        std::size_t begin = 0;
        while (begin < t.size()) {
            const std::size_t cut = t.find("\n\n", begin);
            const std::size_t end = cut == std::string::npos ? t.size() : cut + 2;
            out.push_back(t.substr(begin, end - begin));
            begin = end;
        }
        return out;
    }();
    return docs;
}

std::size_t total_ids = 0, batch_ids = 0;  // reported next to HF's counts as a sanity check

void load(benchmark::State& state) {
    for (auto _ : state) {
        auto tok = tokenizer::from_file(tokenizer_path);
        benchmark::DoNotOptimize(tok);
    }
}

void encode_cold(benchmark::State& state) {
    const std::string& text = long_text();
    for (auto _ : state) {
        state.PauseTiming();
        auto tok = tokenizer::from_file(tokenizer_path);
        state.ResumeTiming();
        auto ids = tok.encode(text);
        benchmark::DoNotOptimize(ids.data());
        state.PauseTiming();
        total_ids = ids.size();
        tok = tokenizer::from_file(tokenizer_path);  // the old one's data is freed outside the timing
        state.ResumeTiming();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}

void encode_warm(benchmark::State& state) {
    const std::string& text = long_text();
    const auto tok = tokenizer::from_file(tokenizer_path);
    (void)tok.encode(text);
    for (auto _ : state) {
        auto ids = tok.encode(text);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}

void encode_batch(benchmark::State& state) {
    const auto& docs = documents();
    const auto tok = tokenizer::from_file(tokenizer_path);
    std::vector<std::vector<std::int32_t>> ids(docs.size());
    auto run = [&] {
        oneapi::tbb::parallel_for(std::size_t(0), docs.size(), [&](std::size_t i) { ids[i] = tok.encode(docs[i]); });
    };
    run();
    for (auto _ : state) {
        run();
        benchmark::DoNotOptimize(ids.data());
    }
    batch_ids = 0;
    for (const auto& v : ids) batch_ids += v.size();
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(long_text().size()));
    state.counters["documents"] = double(docs.size());
    state.counters["threads"] = double(oneapi::tbb::this_task_arena::max_concurrency());
}

void register_all() {
    const int reps = repetitions();
    auto common = [&](benchmark::internal::Benchmark* b) {
        b->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(reps)->ReportAggregatesOnly(true);
    };
    common(benchmark::RegisterBenchmark("tokenizer/load", load)->Iterations(3));
    common(benchmark::RegisterBenchmark("tokenizer/encode_cold", encode_cold)->Iterations(3));
    common(benchmark::RegisterBenchmark("tokenizer/encode_warm", encode_warm)->MinTime(0.3));
    common(benchmark::RegisterBenchmark("tokenizer/encode_batch", encode_batch)->MinTime(0.3));
}

// Keeps the medians while printing as usual.
class median_reporter : public benchmark::ConsoleReporter {
public:
    struct figure {
        double seconds = 0;         // per iteration
        double bytes_per_second = 0;
    };
    std::map<std::string, figure> medians;

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            if (r.aggregate_name != "median") continue;
            figure f;
            f.seconds = r.GetAdjustedRealTime() / 1e3;  // milliseconds
            if (auto it = r.counters.find("bytes_per_second"); it != r.counters.end()) f.bytes_per_second = it->second;
            medians[r.run_name.function_name] = f;
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// The Markdown table of dsv4 against the anchor (`hf` null when unavailable).
void print_table(const median_reporter& rep, const nlohmann::json& hf, const std::string& unavailable) {
    const auto get = [&](const char* name) {
        auto it = rep.medians.find(name);
        return it == rep.medians.end() ? median_reporter::figure{} : it->second;
    };
    const bool have = !hf.is_null();
    const std::string anchor = have ? "HF tokenizers " + hf.value("version", std::string("?")) : "HF tokenizers";
    std::printf("| tokenizer, long_text.txt (%zu bytes) | dsv4 | %s | dsv4 / HF | target | met? |\n",
                long_text().size(), anchor.c_str());
    std::printf("|---|---|---|---|---|---|\n");
    const std::string na = "unavailable (" + unavailable + ")";
    {
        // Target: at most 0.22 s (HF's load of this file on a quiet machine) and at most HF's
        // load in this run.
        const double s = get("tokenizer/load").seconds;
        const double h = have ? hf["load_s"].get<double>() : 0;
        const std::string ratio = have ? fixed(h / s, 1) + "× faster" : "-";
        const bool met = s <= 0.22 && (!have || s <= h);
        std::printf("| load tokenizer.json | %s s | %s | %s | ≤ 0.22 s and ≤ HF | %s |\n", fixed(s, 3).c_str(),
                    have ? (fixed(h, 3) + " s").c_str() : na.c_str(), ratio.c_str(), met ? "yes" : "NO");
    }
    const unsigned threads = unsigned(oneapi::tbb::this_task_arena::max_concurrency());
    struct row {
        const char* name;
        const char* key;
        std::string label;
    };
    for (const row& r : {row{"tokenizer/encode_cold", "encode_cold_mb_s", "encode, 1 thread, cold cache"},
                         row{"tokenizer/encode_warm", "encode_warm_mb_s", "encode, 1 thread, warm cache"},
                         row{"tokenizer/encode_batch", "batch_mb_s",
                             "encode " + std::to_string(documents().size()) + " documents, " +
                                 std::to_string(threads) + " threads"}}) {
        const double mb = get(r.name).bytes_per_second / 1e6;
        const double h = have ? hf[r.key].get<double>() : 0;
        const std::string ratio = have ? fixed(mb / h, 1) + "×" : "-";
        const char* met = have ? (mb >= 10 * h ? "yes" : "NO") : "-";
        std::printf("| %s | %s MB/s | %s | %s | ≥ 10× | %s |\n", r.label.c_str(), fixed(mb, 1).c_str(),
                    have ? (fixed(h, 1) + " MB/s").c_str() : na.c_str(), ratio.c_str(), met);
    }
    if (have) {
        const bool same = hf["ids"].get<std::size_t>() == total_ids && hf["batch_ids"].get<std::size_t>() == batch_ids;
        std::printf("\nids: dsv4 %zu (batch %zu), HF %zu (batch %zu)%s\n", total_ids, batch_ids,
                    hf["ids"].get<std::size_t>(), hf["batch_ids"].get<std::size_t>(),
                    same ? ", equal" : " — COUNTS DIFFER");
    }
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string anchor_path, unavailable;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strncmp(argv[i], "--hf-anchor=", 12) == 0) {
            anchor_path = argv[i] + 12;
        } else if (std::strncmp(argv[i], "--hf-unavailable=", 17) == 0) {
            unavailable = argv[i] + 17;
        } else {
            args.push_back(argv[i]);
        }
    }
    int n = int(args.size());
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
    register_all();
    median_reporter rep;
    const bool table = !anchor_path.empty() || !unavailable.empty();
    if (table) rep.SetOutputStream(&std::cerr);  // stdout carries only the table
    benchmark::RunSpecifiedBenchmarks(&rep);
    benchmark::Shutdown();
    if (!table) return 0;
    nlohmann::json hf;
    if (!anchor_path.empty()) {
        std::ifstream f(anchor_path);
        try {
            hf = nlohmann::json::parse(f);
        } catch (const nlohmann::json::exception& e) {
            unavailable = std::string("anchor output unreadable: ") + e.what();
            hf = nullptr;
        }
    }
    print_table(rep, hf, unavailable);
    return 0;
}
