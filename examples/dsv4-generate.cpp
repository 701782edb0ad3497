// dsv4-generate — greedy or temperature generation from token ids.
//
//   dsv4-generate [--checkpoint DIR] [--prompt "1 2 3"] [-n 32] [--temperature 0.6]
//                 [--seed N] [--threads N] [--eos ID|-1]
// Defaults to the tiny checkpoint bundled with the repository. Prints the generated ids,
// the time to first token and the decode rate.
#include <dsv4/dsv4.hpp>
#include <dsv4/runtime/generate.hpp>
#include <dsv4/runtime/known_models.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <sstream>

int main(int argc, char** argv) {
    CLI::App app{"Generate tokens with a DeepSeek-V4 checkpoint"};
    std::string folder = DSV4_DEFAULT_CHECKPOINT;
    std::string prompt_text = "182 178 17 28 152";
    int max_new = 32, threads = 0, eos = 1;
    float temperature = 0.0f;
    uint64_t seed = 33377335;
    app.add_option("--checkpoint", folder, "checkpoint folder (config.json + safetensors)");
    app.add_option("--prompt", prompt_text, "prompt token ids, separated by spaces or commas");
    app.add_option("-n,--max-new-tokens", max_new, "tokens to generate")->check(CLI::NonNegativeNumber);
    app.add_option("--temperature", temperature, "0 = greedy")->check(CLI::NonNegativeNumber);
    app.add_option("--seed", seed, "sampling seed");
    app.add_option("--threads", threads, "worker threads (0 = all)")->check(CLI::NonNegativeNumber);
    app.add_option("--eos", eos, "stop token id (-1: none)");
    CLI11_PARSE(app, argc, argv);
    try {
        std::vector<int32_t> prompt;
        for (char& c : prompt_text)
            if (c == ',') c = ' ';
        std::istringstream in(prompt_text);
        for (std::string tok; in >> tok;) {
            try {
                size_t used = 0;
                prompt.push_back(int32_t(std::stol(tok, &used)));
                if (used != tok.size()) throw std::invalid_argument(tok);
            } catch (const std::exception&) {
                dsv4::fail("--prompt: '", tok, "' is not a token id");
            }
        }
        const auto known = dsv4::describe_checkpoint(folder);  // a compiled config, or config.json's own shape
        auto model = dsv4::open_model(folder, {.threads = threads});
        std::printf("model %s, %zu tensors, %.1f MB, %d threads\n", known.name.c_str(), model->weights_file().size(),
                    double(model->weights_file().total_bytes()) / 1e6, model->ctx().threads());
        dsv4::generate_options opt;
        opt.max_new_tokens = max_new;
        opt.temperature = temperature;
        opt.seed = seed;
        opt.eos = eos >= 0 ? std::optional<int32_t>(eos) : std::nullopt;
        std::printf("prompt (%zu):", prompt.size());
        for (auto t : prompt) std::printf(" %d", t);
        std::printf("\ngenerated:");
        std::fflush(stdout);
        const auto out = dsv4::generate(*model, {prompt}, opt, [](size_t, int32_t t) {
            std::printf(" %d", t);
            std::fflush(stdout);
        });
        const auto& g = out[0];
        std::printf("%s\n", g.hit_eos ? " <eos>" : "");
        const size_t decoded = g.tokens.size() > 0 ? g.tokens.size() - 1 : 0;
        std::printf("time to first token %.2f ms, decode %.1f tokens/s (%zu steps)\n", g.prefill_seconds * 1e3,
                    g.decode_seconds > 0 ? double(decoded) / g.decode_seconds : 0.0, decoded);
        return 0;
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "dsv4-generate: %s\n", e.what());
        return 1;
    }
}
