// dsv4-inspect — lists a checkpoint's tensors and checks its config.json against every
// config compiled into this tool.
//
//   dsv4-inspect [--checkpoint DIR] [--quiet]
// Exit status 0 when a compiled config matches, 1 otherwise.
#include <dsv4/dsv4.hpp>
#include <dsv4/runtime/known_models.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

int main(int argc, char** argv) {
    CLI::App app{"Inspect a DeepSeek-V4 checkpoint folder"};
    std::string folder = DSV4_DEFAULT_CHECKPOINT;
    bool quiet = false;
    app.add_option("--checkpoint", folder, "checkpoint folder");
    app.add_flag("--quiet", quiet, "summary only, no tensor list");
    CLI11_PARSE(app, argc, argv);
    try {
        dsv4::checkpoint ck(folder);
        std::map<std::string, size_t> by_dtype;
        if (!quiet) std::printf("%-60s %-8s %s\n", "tensor", "dtype", "shape");
        for (const auto& name : ck.names()) {
            const auto& t = ck.at(name);
            by_dtype[std::string(dsv4::dtype_name(t.type))] += t.nbytes;
            if (!quiet) std::printf("%-60s %-8s %s\n", name.c_str(), std::string(dsv4::dtype_name(t.type)).c_str(),
                                    t.shape_string().c_str());
        }
        std::printf("%zu tensors in %zu file(s), %zu bytes\n", ck.size(), ck.shards().size(), ck.total_bytes());
        for (const auto& [d, b] : by_dtype) std::printf("  %-8s %zu bytes\n", d.c_str(), b);
        const auto doc = dsv4::read_config_json(folder + "/config.json");
        for (const auto& k : dsv4::known_configs()) {
            const auto diffs = dsv4::config_differences(doc, k.shape);
            if (diffs.empty()) std::printf("config.json matches the compiled %s\n", k.name.c_str());
            else
                std::printf("config.json differs from %s in %zu field(s), e.g. %s\n", k.name.c_str(), diffs.size(),
                            diffs.front().c_str());
        }
        // the run-time route: any valid shape runs, compiled or not (throws when invalid)
        const auto shape = dsv4::shape_from_config(doc);
        const auto totals = dsv4::release_checkpoint(shape);
        std::printf("shape (fingerprint %s): %d layers, release layout %lld tensors, %lld bytes; %lld parameters\n",
                    dsv4::hex(dsv4::fingerprint(shape)).c_str(), shape.n_layers, (long long)totals.tensors(),
                    (long long)totals.bytes(), (long long)dsv4::total_params(shape));
        return 0;
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "dsv4-inspect: %s\n", e.what());
        return 1;
    }
}
