// Tests of dsv4/text/chat_stream.hpp: the streaming parser must end with exactly the message of
// parse_completion() (and reject exactly the same texts) however the completion is cut into
// pieces, and its deltas must add up to that message.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <dsv4/text/chat.hpp>

namespace {

using json = nlohmann::ordered_json;
using namespace dsv4::text;
using kind = stream_event::kind;

const json& golden_cases() {
    static const json cases = [] {
        std::ifstream in(DSV4_TEST_DATA "/golden-encoding/cases.json", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return pyjson::parse(ss.str(), "cases.json");
    }();
    return cases;
}

thinking_mode mode_of(const json& c) {
    return c["thinking_mode"] == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
}

struct stream_result {
    std::optional<json> message;  // nullopt: rejected
    std::vector<stream_event> events;
};

// Feeds `pieces` and finishes; a completion_error anywhere counts as a rejection.
stream_result run_stream(const std::vector<std::string_view>& pieces, thinking_mode mode) {
    stream_result r;
    completion_stream s(mode);
    try {
        for (std::string_view p : pieces)
            for (auto& e : s.feed(p)) r.events.push_back(std::move(e));
        for (auto& e : s.finish()) r.events.push_back(std::move(e));
    } catch (const completion_error&) {
        return r;
    }
    r.message = s.message();
    return r;
}

// Rebuilds the message from the events alone.
json message_from_events(const std::vector<stream_event>& events) {
    std::string reasoning, content;
    std::vector<chat_detail::tool_call_text> calls;
    int open = -1;
    for (const stream_event& e : events) {
        switch (e.type) {
            case kind::reasoning_delta: reasoning += e.text; break;
            case kind::content_delta: content += e.text; break;
            case kind::tool_call_begin:
                EXPECT_EQ(open, -1);
                EXPECT_EQ(e.index, calls.size());
                calls.push_back({e.text, ""});
                open = static_cast<int>(e.index);
                break;
            case kind::tool_call_arguments:
                EXPECT_EQ(static_cast<int>(e.index), open);
                calls.back().arguments += e.text;
                break;
            case kind::tool_call_end:
                EXPECT_EQ(static_cast<int>(e.index), open);
                open = -1;
                break;
            case kind::done: EXPECT_EQ(&e, &events.back()); break;
        }
    }
    EXPECT_EQ(open, -1);
    return chat_detail::make_message(content, reasoning, calls);
}

std::optional<json> whole_text(std::string_view text, thinking_mode mode) {
    try {
        return parse_completion(text, mode);
    } catch (const completion_error&) {
        return std::nullopt;
    }
}

bool valid_utf8_piece(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t j = 1; j < n; ++j)
            if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
        i += n;
    }
    return true;
}

void check_all_splits(std::string_view text, thinking_mode mode, const std::optional<json>& expected) {
    std::vector<std::vector<std::string_view>> splits;
    splits.push_back({text});
    for (std::size_t k = 0; k <= text.size(); ++k) splits.push_back({text.substr(0, k), text.substr(k)});
    std::vector<std::string_view> bytes;
    for (std::size_t k = 0; k < text.size(); ++k) bytes.push_back(text.substr(k, 1));
    splits.push_back(bytes);
    for (const auto& pieces : splits) {
        SCOPED_TRACE(pieces.size() == 2 ? "split at " + std::to_string(pieces[0].size())
                                        : std::to_string(pieces.size()) + " pieces");
        const stream_result r = run_stream(pieces, mode);
        ASSERT_EQ(r.message.has_value(), expected.has_value());
        if (!expected) continue;
        EXPECT_EQ(*r.message, *expected);
        EXPECT_EQ(message_from_events(r.events), *expected);
        for (const stream_event& e : r.events) EXPECT_TRUE(valid_utf8_piece(e.text)) << e.text;
    }
}

TEST(ChatStream, GoldenParseCasesAtEverySplit) {
    int n = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "parse") continue;
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::string text = c["completion"].get<std::string>();
        const std::optional<json> expected = c["error"].is_null() ? std::optional<json>(c["parsed"]) : std::nullopt;
        ASSERT_EQ(whole_text(text, mode_of(c)), expected);
        check_all_splits(text, mode_of(c), expected);
        ++n;
    }
    EXPECT_EQ(n, 24);
}

}  // namespace
