// dsv4-train-variant — trains a variant of the V4 architecture from C++: a config type of
// its own, random f32 parameters, the V4 loss and its exact gradient, then plain gradient
// steps written as xtensor expressions on the parameters (the V4 optimizer, Muon + AdamW,
// is the next layer up), and greedy generation from the trained parameters.
//
//   dsv4-train-variant [--steps 30] [--lr 0.05] [--threads N]
// The documents follow a counting pattern (token t+1 = token t + 3 mod V) that the model can
// learn in a few steps; the program fails when the loss does not fall by half.
#include <dsv4/config/mini.hpp>
#include <dsv4/runtime/generate.hpp>
#include <dsv4/train.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>

// A variant: Flash's structure scaled down, one CSA and one HCA layer, two streams.
struct VariantConfig : dsv4::FlashMiniConfig {
    static constexpr int vocab_size = 64;
    static constexpr int dim = 64;
    static constexpr int n_layers = 2;
    static constexpr std::array<int, 3> compress_ratios = {4, 16, 0};
    static constexpr int hc_mult = 2;
    static constexpr int n_hash_layers = 0;
    static constexpr int index_topk = 4;
};

int main(int argc, char** argv) {
    CLI::App app{"Train a variant of the DeepSeek-V4 architecture for a few steps"};
    int steps = 30, threads = 0;
    float lr = 0.05f;
    app.add_option("--steps", steps, "gradient steps")->check(CLI::PositiveNumber);
    app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
    app.add_option("--threads", threads, "worker threads (0 = all)")->check(CLI::NonNegativeNumber);
    CLI11_PARSE(app, argc, argv);
    try {
        static_assert(dsv4::check_config<VariantConfig>());
        const dsv4::model_shape shape = dsv4::shape_of<VariantConfig>();
        auto params = dsv4::train::parameters::random(shape, 1);
        const auto model = dsv4::train::make_model(params, {.threads = threads});  // runs on params' memory

        std::vector<std::vector<int32_t>> batch;
        for (int32_t start : {1, 20, 41, 7}) {
            std::vector<int32_t> doc(48);
            for (size_t t = 0; t < doc.size(); ++t) doc[t] = int32_t((start + 3 * int32_t(t)) % shape.vocab_size);
            batch.push_back(doc);
        }
        double first = 0, last = 0;
        for (int step = 0; step < steps; ++step) {
            auto grads = dsv4::train::parameters::zeros_like(params);
            const auto res = dsv4::train::forward_backward(*model, params, batch, {}, grads);
            for (const auto& name : params.names()) params[name] -= lr * grads[name];  // in place: the model sees it
            if (step == 0) first = res.loss.total;
            last = res.loss.total;
            std::printf("step %2d  loss %.4f  (main %.4f, mtp %.4f, balance %.4f, indexer %.4f)\n", step, res.loss.total,
                        res.loss.main, res.loss.mtp, res.loss.balance, res.loss.indexer);
        }
        dsv4::generate_options opt;
        opt.max_new_tokens = 8;
        const auto out = dsv4::generate(*model, {{1, 4, 7, 10}}, opt);
        std::printf("after training, 1 4 7 10 continues as:");
        for (int32_t t : out[0].tokens) std::printf(" %d", t);
        std::printf("\n");
        if (!(last < 0.5 * first)) {
            std::fprintf(stderr, "the loss fell from %.4f to %.4f only\n", first, last);
            return 1;
        }
        return 0;
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
