// libFuzzer target: dsv4::parse_config_json, then the comparison with a compiled config.
//
// Any input must either parse or throw dsv4::error; a parsed document is compared with
// FlashMiniConfig (config_differences must not throw) and with check_config (which
// throws dsv4::error when they differ).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <dsv4/config/mini.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/config_json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto doc = dsv4::parse_config_json(std::string_view(text), "fuzz.config.json");
        const auto diffs = dsv4::config_differences(doc, dsv4::shape_of<dsv4::FlashMiniConfig>());
        volatile size_t sink = 0;
        for (const auto& d : diffs) sink = sink + d.size();
        (void)sink;
        dsv4::check_config(doc, dsv4::shape_of<dsv4::ProMiniConfig>(), "ProMiniConfig");
    } catch (const dsv4::error&) {
        // rejected input or a config mismatch
    }
    return 0;
}
