// libFuzzer target: dsv4::parse_safetensors on arbitrary bytes.
//
// Any input must either parse or throw dsv4::error. A parsed header is walked: every
// tensor's first and last byte is read, so a span outside the input is caught by ASan,
// and its size is checked against dtype and shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <dsv4/error.hpp>
#include <dsv4/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A private copy: its exact bounds make ASan flag any read past the input.
    std::vector<std::byte> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(data[i]);
    try {
        const auto header = dsv4::parse_safetensors(std::span<const std::byte>(bytes.data(), bytes.size()), "fuzz");
        const std::byte* begin = bytes.data() + header.data_offset;
        const std::byte* end = bytes.data() + bytes.size();
        if (header.data_offset > bytes.size()) std::abort();
        volatile unsigned sink = 0;
        for (const auto& t : header.tensors) {
            if (t.nbytes != static_cast<size_t>(t.numel()) * static_cast<size_t>(dsv4::dtype_size(t.type)))
                std::abort();
            if (t.nbytes == 0) continue;
            if (t.data < begin || t.data + t.nbytes > end) std::abort();
            sink = sink + static_cast<unsigned>(t.data[0]) + static_cast<unsigned>(t.data[t.nbytes - 1]);
        }
        (void)sink;
    } catch (const dsv4::error&) {
        // rejected input: the expected outcome for malformed files
    }
    return 0;
}
