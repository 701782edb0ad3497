// libFuzzer target: dsv4::parse_shard_index on arbitrary text.
//
// Any input must either parse or throw dsv4::error; a parsed index must be non-empty
// and name only plain file names (no folder separators, not "." or "..").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto index = dsv4::parse_shard_index(std::string_view(text), "fuzz.index.json");
        if (index.empty()) std::abort();
        for (const auto& [name, shard] : index)
            if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") std::abort();
    } catch (const dsv4::error&) {
        // rejected input
    }
    return 0;
}
