// libFuzzer target: dsv4::text::pyjson (JSON read and written with CPython's rules).
//
// Contract: read() never throws (it reports invalid / lone_surrogate), parse() throws only
// dsv4::error, and what read() accepts can be written: dumps() of the value reads back as
// valid JSON and writes out to the same text (the writer's output is stable under a round
// trip: floats as shortest repr, big integers and NaN / Infinity as Python spells them).
// Any other exception, a crash, a sanitizer report or a timeout is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <dsv4/text.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace pyjson = dsv4::text::pyjson;
    using dsv4::fuzz::check;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const pyjson::read_result r = pyjson::read(text);
    try {
        (void)pyjson::parse(text, "fuzz input");
        check(r.status == pyjson::read_status::ok, "parse() accepted what read() does not report as ok");
    } catch (const dsv4::error&) {
        check(r.status != pyjson::read_status::ok, "parse() rejected what read() reports as ok");
    }
    if (r.status == pyjson::read_status::invalid) return 0;
    (void)pyjson::truthy(r.value);
    const std::string written = pyjson::dumps(r.value);
    const pyjson::read_result again = pyjson::read(written);
    if (again.status != pyjson::read_status::ok) dsv4::fuzz::broken("dumps() wrote text read() rejects: " + written);
    const std::string rewritten = pyjson::dumps(again.value);
    if (rewritten != written) dsv4::fuzz::broken("round trip changed the text: " + written + " -> " + rewritten);
    return 0;
}
