// libFuzzer target (differential): completion_stream fed in pieces against parse_completion
// on the whole text.
//
// Input: byte 0 picks the thinking mode (low bit); byte 1 picks how the text is cut (bit 3:
// one byte per piece; else its low 3 bits give 0-7 cut points, two bytes each, taken modulo
// the text length + 1, so empty pieces occur too); the rest is the completion. Properties:
//   * the stream rejects (completion_error, at feed or finish) exactly the texts the whole-text
//     parser rejects, and otherwise its message equals parse_completion's;
//   * the events add up to the message: reasoning and content deltas concatenate to the
//     fields, tool_call_begin/arguments/end rebuild every call with consecutive indices, and
//     `done` comes last, once.
// Any other exception, a crash or a sanitizer report is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <dsv4/text.hpp>

#include "fuzz_support.hpp"

namespace {

using dsv4::fuzz::check;
namespace text = dsv4::text;
using json = nlohmann::ordered_json;
using kind = text::stream_event::kind;

// Where the completion is cut into pieces (sorted; equal cuts make empty pieces). Reads the
// cut control bytes, so the completion is what remains of `in` afterwards.
std::vector<std::size_t> cut_points(dsv4::fuzz::input& in) {
    const std::uint8_t how = in.byte();
    std::vector<std::size_t> cuts;
    if (how & 8) {
        for (std::size_t i = 1; i < in.rest().size(); ++i) cuts.push_back(i);
        return cuts;
    }
    for (std::size_t i = 0; i < std::size_t(how & 7); ++i) cuts.push_back(in.u16());
    for (auto& c : cuts) c %= in.rest().size() + 1;
    std::sort(cuts.begin(), cuts.end());
    return cuts;
}

// The message the events describe, in parse_completion's shape.
json message_from_events(const std::vector<text::stream_event>& events) {
    std::string reasoning, content;
    json calls = json::array();
    bool open = false, done = false;
    for (const auto& e : events) {
        check(!done, "event after done");
        switch (e.type) {
            case kind::reasoning_delta:
                check(calls.empty() && content.empty(), "reasoning after content or tool calls");
                reasoning += e.text;
                break;
            case kind::content_delta:
                check(calls.empty(), "content after tool calls");
                content += e.text;
                break;
            case kind::tool_call_begin:
                check(!open && e.index == calls.size(), "tool_call_begin index or nesting");
                calls.push_back({{"type", "function"}, {"function", {{"name", e.text}, {"arguments", ""}}}});
                open = true;
                break;
            case kind::tool_call_arguments:
                check(open && e.index + 1 == calls.size(), "tool_call_arguments outside its call");
                calls.back()["function"]["arguments"].get_ref<std::string&>() += e.text;
                break;
            case kind::tool_call_end:
                check(open && e.index + 1 == calls.size(), "tool_call_end outside its call");
                open = false;
                break;
            case kind::done: done = true; break;
        }
    }
    check(done && !open, "events do not end with done after the last call");
    json m = json::object();
    m["role"] = "assistant";
    m["content"] = content;
    m["reasoning_content"] = reasoning;
    m["tool_calls"] = calls;
    return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    dsv4::fuzz::input in(data, size);
    const auto mode = (in.byte() & 1) ? text::thinking_mode::thinking : text::thinking_mode::chat;
    const std::vector<std::size_t> cuts = cut_points(in);
    const std::string_view completion = in.rest();

    std::optional<json> whole;
    try {
        whole = text::parse_completion(completion, mode);
    } catch (const text::completion_error&) {
    }

    text::completion_stream stream(mode);
    std::vector<text::stream_event> events;
    bool stream_rejected = false;
    try {
        std::size_t at = 0;
        for (std::size_t c : cuts) {
            for (auto& e : stream.feed(completion.substr(at, c - at))) events.push_back(std::move(e));
            at = c;
        }
        for (auto& e : stream.feed(completion.substr(at))) events.push_back(std::move(e));
        for (auto& e : stream.finish()) events.push_back(std::move(e));
    } catch (const text::completion_error&) {
        stream_rejected = true;
    }

    check(stream_rejected == !whole.has_value(),
          stream_rejected ? "the stream rejects a text parse_completion accepts"
                          : "the stream accepts a text parse_completion rejects");
    if (whole) {
        if (stream.message() != *whole)
            dsv4::fuzz::broken("stream message " + dsv4::fuzz::show(stream.message()) + " != " + dsv4::fuzz::show(*whole));
        if (message_from_events(events) != *whole)
            dsv4::fuzz::broken("events do not add up to the message " + dsv4::fuzz::show(*whole));
    }
    return 0;
}
