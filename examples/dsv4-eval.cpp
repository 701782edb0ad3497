// dsv4-eval — replays the reference's greedy decode loop on a golden case folder and
// writes the logits under the golden expected*.safetensors names and shapes.
//
//   dsv4-eval --case DIR [--tokens tokens.json] [--out FILE] [--steps N] [--threads N]
//             [--initial-revision]
// Fails (exit 1, no output file) when the folder's config matches no compiled config.
#include <dsv4/dsv4.hpp>
#include <dsv4/runtime/eval.hpp>
#include <dsv4/runtime/known_models.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"Run a golden case folder and write its logits"};
    std::string folder, tokens = "tokens.json", out = "eval.safetensors";
    int threads = 0;
    int steps = -1;
    bool initial = false;
    app.add_option("--case", folder, "case folder: config.json, model files, tokens.json")->required();
    app.add_option("--tokens", tokens, "token file inside the folder");
    app.add_option("--out", out, "output safetensors file");
    app.add_option("--steps", steps, "decode steps (default: from greedy_continuation)");
    app.add_option("--threads", threads, "worker threads (0 = all)")->check(CLI::NonNegativeNumber);
    app.add_flag("--initial-revision", initial, "shared expert without SwiGLU clamp (initial official code)");
    CLI11_PARSE(app, argc, argv);
    try {
        const auto known = dsv4::describe_checkpoint(folder);
        auto model = dsv4::open_model(folder, {.threads = threads, .shared_expert_clamp = !initial});
        const auto c = dsv4::read_eval_case(folder + "/" + tokens,
                                            steps >= 0 ? std::optional<size_t>(size_t(steps)) : std::nullopt);
        dsv4::write_safetensors(out, dsv4::run_eval(*model, c), {{"model", known.name}});
        std::printf("%s: %zu prompts x %zu tokens, %zu decode steps -> %s\n", known.name.c_str(), c.prompts.size(),
                    c.prompts[0].size(), c.steps, out.c_str());
        return 0;
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "dsv4-eval: %s\n", e.what());
        return 1;
    }
}
