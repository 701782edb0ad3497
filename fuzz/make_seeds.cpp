// Writes the valid safetensors seeds of fuzz/corpus/fuzz_safetensors_header into the
// folder given as the only argument (built with the fuzz targets; run by hand when the
// writer's layout changes). The malformed seeds are edited copies of these.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <dsv4/io/safetensors_writer.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
        return 2;
    }
    using dsv4::dtype;
    using dsv4::tensor_to_write;
    const std::string dir = argv[1];
    auto write = [&](const std::string& name, std::vector<tensor_to_write> tensors,
                     const std::map<std::string, std::string>& metadata = {}) {
        dsv4::write_file_atomically(dir + "/" + name, dsv4::safetensors_image(std::move(tensors), metadata));
    };
    write("valid_two_tensors",
          {tensor_to_write::from<float>("a", dtype::f32, {2, 3}, {1, 2, 3, 4, 5, 6}),
           tensor_to_write::from<uint16_t>("b", dtype::bf16, {3}, {0x3F80, 0x4000, 0xC040})},
          {{"format", "pt"}});
    write("valid_empty_and_scalar",
          {tensor_to_write::from<float>("empty", dtype::f32, {0, 4}, std::vector<float>{}),
           tensor_to_write::from<double>("scalar", dtype::f64, {}, {3.5})});
    write("valid_fp8_layout",
          {tensor_to_write::from<uint8_t>("layers.0.ffn.w1.weight", dtype::f8_e4m3, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}),
           tensor_to_write::from<uint8_t>("layers.0.ffn.w1.scale", dtype::f8_e8m0, {1, 1}, {127}),
           tensor_to_write::from<int8_t>("layers.0.ffn.experts.0.w1.weight", dtype::i8, {2, 2}, {1, -1, 2, -2}),
           tensor_to_write::from<int64_t>("tid2eid", dtype::i64, {2}, {0, 1}),
           tensor_to_write::from<uint16_t>("norm.weight", dtype::f16, {2}, {0x3C00, 0x3C00})});
    write("valid_no_tensors", {}, {{"note", "metadata only"}});
    return 0;
}
