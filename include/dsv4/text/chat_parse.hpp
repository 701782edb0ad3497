// dsv4/text/chat_parse.hpp — DeepSeek-V4 completion parsing: generated text -> assistant message.
//
// Mirrors the official `parse_message_from_completion_text` (docs/spec/ENCODING.md §8): the text of one
// assistant turn is cut with a "find the earliest of these markers" primitive into reasoning
// (thinking mode), content and an optional DSML tool-call block, with the same leniencies
// (truncated blocks, non-JSON `string="false"` values) and the same rejections as the
// official parser; the golden parse vectors pin both. Rejections throw `completion_error`.
// The pieces shared with the streaming parser (chat_stream.hpp) — invoke-head and parameter
// matching, the special-token check, the `arguments` text, the message shape — live in
// `chat_detail` below so that both parsers accept exactly the same texts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <dsv4/error.hpp>
#include <dsv4/text/chat_tokens.hpp>
#include <dsv4/text/pyjson.hpp>

namespace dsv4::text {

// ---- declarations -----------------------------------------------------------------------

// A completion the official parser would reject.
class completion_error : public dsv4::error {
public:
    using dsv4::error::error;
};

// {"role": "assistant", "content", "reasoning_content", "tool_calls": [{"type": "function",
// "function": {"name", "arguments"}}]} in that key order; `reasoning_content` is "" in chat
// mode. `text` starts right after the prompt (after `<think>` in thinking mode, after
// `</think>` in chat mode) and normally ends with EOS.
nlohmann::ordered_json parse_completion(std::string_view text, thinking_mode mode);

// ---- implementation ---------------------------------------------------------------------

namespace chat_detail {

struct tool_call_text {
    std::string name;
    std::string arguments;
};

[[noreturn]] inline void reject(std::string_view why) { throw completion_error("completion rejected: " + std::string(why)); }

// Earliest occurrence at or after `from` of any marker; ties go to the earlier marker.
struct marker_hit {
    int which = -1;  // index of the marker, -1 if none occurs
    std::size_t begin = std::string_view::npos;
    std::size_t end = std::string_view::npos;
};

inline marker_hit find_marker(std::string_view text, std::size_t from, std::initializer_list<std::string_view> markers) {
    marker_hit hit;
    int k = 0;
    for (std::string_view m : markers) {
        const std::size_t p = text.find(m, from);
        if (p != std::string_view::npos && p < hit.begin) hit = {k, p, p + m.size()};
        ++k;
    }
    return hit;
}

// Decodes the UTF-8 character at `i` if it is whitespace for Python's `\s` (str.isspace()),
// returning its length, else 0.
inline std::size_t python_space_at(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t j) { return static_cast<unsigned char>(s[j]); };
    const unsigned char c = b(i);
    if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
    std::uint32_t cp = 0;
    std::size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1Fu;
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0Fu;
        n = 3;
    } else {
        return 0;  // every other whitespace character is in the BMP and takes 2 or 3 bytes
    }
    if (i + n > s.size()) return 0;
    for (std::size_t j = 1; j < n; ++j) {
        if ((b(i + j) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + j) & 0x3Fu);
    }
    const bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
                       cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    return space ? n : 0;
}

// The tool name of an invoke head, as `^\s*name="(.*?)">\n$` (DOTALL) extracts it; since `$`
// also matches before a final newline, the head may end with `">\n` or `">\n\n`.
inline std::optional<std::string_view> invoke_name(std::string_view head) {
    std::size_t i = 0;
    while (i < head.size()) {
        const std::size_t n = python_space_at(head, i);
        if (n == 0) break;
        i += n;
    }
    constexpr std::string_view open = "name=\"";
    if (head.substr(i, open.size()) != open) return std::nullopt;
    const std::string_view rest = head.substr(i + open.size());
    if (rest.ends_with("\">\n")) return rest.substr(0, rest.size() - 3);
    if (rest.ends_with("\">\n\n")) return rest.substr(0, rest.size() - 4);
    return std::nullopt;
}

inline constexpr std::string_view param_open = " name=\"";
inline constexpr std::string_view flag_true = "\" string=\"true\">";
inline constexpr std::string_view flag_false = "\" string=\"false\">";

struct param_text {
    std::string_view name;
    bool is_string = false;
    std::string_view value;
};

// Where the value of a parameter segment ends: the segment must end with `<` or `<\n` at or
// after `value_begin` (the `<$` of the official pattern). npos if it does not.
inline std::size_t param_value_end(std::string_view seg, std::size_t value_begin) {
    if (seg.size() >= value_begin + 1 && seg.ends_with("<")) return seg.size() - 1;
    if (seg.size() >= value_begin + 2 && seg.ends_with("<\n")) return seg.size() - 2;
    return std::string_view::npos;
}

// A parameter segment (the text between `<｜DSML｜parameter` and `/｜DSML｜parameter`), as
// `^ name="(.*?)" string="(true|false)">(.*?)<$` (DOTALL) reads it: the name runs to the first
// flag, the value to the final `<`.
inline std::optional<param_text> parse_param(std::string_view seg) {
    if (!seg.starts_with(param_open)) return std::nullopt;
    const marker_hit flag = find_marker(seg, param_open.size(), {flag_true, flag_false});
    if (flag.which < 0) return std::nullopt;
    const std::size_t end = param_value_end(seg, flag.end);
    if (end == std::string_view::npos) return std::nullopt;
    return param_text{seg.substr(param_open.size(), flag.begin - param_open.size()), flag.which == 0,
                      seg.substr(flag.end, end - flag.end)};
}

// `"name": value` of the rebuilt arguments: string values are quoted, others copied verbatim.
inline std::string argument_key(std::string_view name, bool is_string) {
    std::string out = pyjson::quote(name);
    out += is_string ? ": \"" : ": ";
    return out;
}

inline void check_no_special_tokens(std::string_view text, std::string_view field) {
    for (std::string_view t : {tokens::bos, tokens::eos, tokens::think_begin, tokens::think_end, tokens::dsml})
        if (text.find(t) != std::string_view::npos)
            reject("unexpected special token '" + std::string(t) + "' in " + std::string(field));
}

inline nlohmann::ordered_json make_message(std::string content, std::string reasoning,
                                           const std::vector<tool_call_text>& calls) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    m["role"] = "assistant";
    m["content"] = std::move(content);
    m["reasoning_content"] = std::move(reasoning);
    m["tool_calls"] = nlohmann::ordered_json::array();
    for (const tool_call_text& c : calls) {
        nlohmann::ordered_json fn = nlohmann::ordered_json::object();
        fn["name"] = c.name;
        fn["arguments"] = c.arguments;
        nlohmann::ordered_json call = nlohmann::ordered_json::object();
        call["type"] = "function";
        call["function"] = std::move(fn);
        m["tool_calls"].push_back(std::move(call));
    }
    return m;
}

// The whole-text parser: a cursor over `text` and the find primitive of §8.
class completion_reader {
public:
    explicit completion_reader(std::string_view text) : text_(text) {}

    // Returns the text skipped and which marker ended it (-1: none, the cursor is at the end).
    std::pair<std::string_view, int> read_until(std::initializer_list<std::string_view> markers) {
        const marker_hit hit = find_marker(text_, pos_, markers);
        const std::size_t stop = hit.which < 0 ? text_.size() : hit.begin;
        const std::string_view skipped = text_.substr(pos_, stop - pos_);
        pos_ = hit.which < 0 ? text_.size() : hit.end;
        return {skipped, hit.which};
    }
    bool at_end() const { return pos_ == text_.size(); }

    // §8 step 3: the DSML block after TC_START.
    std::vector<tool_call_text> tool_calls() {
        std::vector<tool_call_text> calls;
        while (!at_end()) {
            auto [gap, which] = read_until({tokens::invoke, tokens::tool_calls_end});
            if (gap != ">\n") reject("tool call format error: expected '>\\n' before an invoke or the end of the block");
            if (which == 1) break;
            if (which < 0) reject("missing special token in tool calls");
            auto [head, stop] = read_until({tokens::parameter, tokens::invoke_end});
            const auto name = invoke_name(head);
            if (!name) reject("tool name format error: '" + std::string(head) + "'");
            tool_call_text call{std::string(*name), "{"};
            std::set<std::string_view> seen;
            while (stop == 0) {
                const std::string_view seg = read_until({tokens::parameter_end}).first;
                const auto p = parse_param(seg);
                if (!p) reject("parameter format error: '" + std::string(seg) + "'");
                if (!seen.insert(p->name).second) reject("duplicate parameter name: '" + std::string(p->name) + "'");
                if (seen.size() > 1) call.arguments += ", ";
                call.arguments += argument_key(p->name, p->is_string);
                if (p->is_string) {
                    pyjson::write_escaped(call.arguments, p->value);
                    call.arguments += '"';
                } else {
                    call.arguments += p->value;
                }
                std::string_view after;
                std::tie(after, stop) = read_until({tokens::parameter, tokens::invoke_end});
                if (after != ">\n") reject("parameter format error: expected '>\\n' after a parameter");
            }
            call.arguments += '}';
            calls.push_back(std::move(call));
        }
        return calls;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace chat_detail

inline nlohmann::ordered_json parse_completion(std::string_view text, thinking_mode mode) {
    using namespace chat_detail;
    completion_reader r(text);
    std::string_view reasoning;
    if (mode == thinking_mode::thinking) {
        int which;
        std::tie(reasoning, which) = r.read_until({tokens::think_end, tokens::tool_calls_start});
        if (which != 0) reject("invalid thinking format: missing </think>");
    }
    auto [content, which] = r.read_until({tokens::eos, tokens::tool_calls_start});
    std::vector<tool_call_text> calls;
    if (which == 1) {
        calls = r.tool_calls();
        if (!r.read_until({tokens::eos}).first.empty()) reject("unexpected content after tool calls");
    } else if (which < 0) {
        reject("invalid format: missing EOS token");
    }
    if (!r.at_end()) reject("unexpected content at end");
    check_no_special_tokens(content, "content");
    check_no_special_tokens(reasoning, "reasoning");
    return make_message(std::string(content), std::string(reasoning), calls);
}

}  // namespace dsv4::text
