// Downstream use of an installed dsv4: open a checkpoint folder and check its config.json
// against a compiled config. Exit 0 only when both succeed.
#include <dsv4/dsv4.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer CHECKPOINT_DIR\n");
        return 2;
    }
    try {
        dsv4::checkpoint ck(argv[1]);
        const auto doc = dsv4::read_config_json(std::string(argv[1]) + "/config.json");
        dsv4::check_config(doc, dsv4::shape_of<dsv4::FlashMiniConfig>(), "FlashMiniConfig");
        std::printf("%zu tensors, %zu bytes, config matches FlashMiniConfig\n", ck.size(), ck.total_bytes());
        return ck.size() == 208 ? 0 : 1;
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
