// Tests of dsv4/text/chat_stream.hpp: the streaming parser must end with exactly the message of
// parse_completion() (and reject exactly the same texts) however the completion is cut into
// pieces, and its deltas must add up to that message.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <dsv4/text/chat.hpp>

namespace chat_test {
// Shared with chat_test.cpp (same executable).
const nlohmann::ordered_json& golden_cases();
dsv4::text::thinking_mode mode_of(const nlohmann::ordered_json& c);
}  // namespace chat_test

namespace {

using json = nlohmann::ordered_json;
using namespace dsv4::text;
using chat_test::golden_cases;
using chat_test::mode_of;
using kind = stream_event::kind;

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

// The leniencies and rejections listed in docs/spec/ENCODING.md §8, each checked against the official
// parser's behaviour: whole text, every split, and byte by byte.
struct spec_case {
    const char* text;
    thinking_mode mode;
    const char* expected;  // the parsed message as JSON, nullptr when rejected
};
constexpr thinking_mode chat = thinking_mode::chat, thinking = thinking_mode::thinking;
const spec_case spec_cases[] = {
    {"x\n\n<｜DSML｜tool_calls>\n</｜DSML｜tool_calls>",
     chat, R"({"role": "assistant", "content": "x", "reasoning_content": "", "tool_calls": []})"},
    {"x\n\n<｜DSML｜tool_calls",
     chat, R"({"role": "assistant", "content": "x", "reasoning_content": "", "tool_calls": []})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>\n",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": \"v\"}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke\nname=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invokename=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke 　  name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": \"v\"}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"false\"></｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": }"}}]})"},
    {"r</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">x<｜end▁of▁sentence｜>y</think></｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     thinking, R"({"role": "assistant", "content": "", "reasoning_content": "r", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": \"x<｜end▁of▁sentence｜>y</think>\"}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v<\n/｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": \"v\"}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"a\">\nb\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "a\">\nb", "arguments": "{}"}}]})"},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"q\"x\" string=\"true\">\" string=\"true\">say \"hi\"\n\\ é</｜DSML｜parameter>\n<｜DSML｜parameter name=\"n\" string=\"false\">[1, 2]</｜DSML｜parameter>\n</｜DSML｜invoke>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
     chat, R"({"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"q\\\"x\": \"\\\" string=\\\"true\\\">say \\\"hi\\\"\\n\\\\ é\", \"n\": [1, 2]}"}}, {"type": "function", "function": {"name": "f", "arguments": "{}"}}]})"},
    {"思考🙂</think>答🙂<｜end▁of▁sentence｜>",
     thinking, R"({"role": "assistant", "content": "答🙂", "reasoning_content": "思考🙂", "tool_calls": []})"},
    {"\n\n<｜DSML｜tool_calls>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n\n\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter  name=\"a\" string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"maybe\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>\n\n<｜DSML｜parameter name=\"b\" string=\"true\">w</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter><｜DSML｜parameter name=\"b\" string=\"true\">w</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>x<｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>x",
     chat, nullptr},
    {"x\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"no end<｜end▁of▁sentence｜>",
     thinking, nullptr},
    {"a</think>b<｜end▁of▁sentence｜>",
     chat, nullptr},
    {"a<think>b<｜end▁of▁sentence｜>",
     chat, nullptr},
    {"a<｜end▁of▁sentence｜><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>",
     chat, nullptr},
    {"\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">v</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜><｜end▁of▁sentence｜>",
     chat, nullptr},
    {"<｜User｜>ok<｜end▁of▁sentence｜>",
     chat, R"({"role": "assistant", "content": "<｜User｜>ok", "reasoning_content": "", "tool_calls": []})"},
};

TEST(ChatStream, SpecLeniencyAndRejectionCases) {
    int accepted = 0, rejected = 0;
    for (const spec_case& c : spec_cases) {
        SCOPED_TRACE(c.text);
        const std::optional<json> expected =
            c.expected == nullptr ? std::nullopt : std::optional<json>(json::parse(c.expected));
        EXPECT_EQ(whole_text(c.text, c.mode), expected);
        check_all_splits(c.text, c.mode, expected);
        (expected ? accepted : rejected)++;
    }
    EXPECT_EQ(accepted, 16);
    EXPECT_EQ(rejected, 19);
}

// Mutated golden and spec completions: the streaming parser must agree with the whole-text
// parser on texts nobody wrote by hand, cut at random places.
TEST(ChatStream, AgreesWithWholeTextParserOnMutatedCompletions) {
    std::vector<std::string> bases;
    for (const json& c : golden_cases())
        if (c["kind"] == "parse") bases.push_back(c["completion"].get<std::string>());
    for (const spec_case& c : spec_cases) bases.emplace_back(c.text);
    const std::vector<std::string> fragments = {
        "a", "é", "\n", ">", "<", "\"", " ", "\n\n", ">\n", "<\n", "</think>", "<think>",
        "<｜end▁of▁sentence｜>", "\n\n<｜DSML｜tool_calls", "<｜DSML｜tool_calls>", "</｜DSML｜tool_calls>",
        "<｜DSML｜invoke", "</｜DSML｜invoke", " name=\"f\">\n", "<｜DSML｜parameter", "/｜DSML｜parameter",
        " name=\"a\" string=\"true\">", "\" string=\"false\">", "｜DSML｜", "\u3000"};
    std::mt19937 rng(12345);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 6000; ++iter) {
        std::string text = bases[pick(bases.size())];
        const std::size_t mutations = 1 + pick(3);
        for (std::size_t m = 0; m < mutations; ++m) {
            const std::size_t at = pick(text.size() + 1);
            if (rng() % 2 == 0)
                text.insert(at, fragments[pick(fragments.size())]);
            else
                text.erase(at, pick(6));
        }
        const thinking_mode mode = rng() % 2 == 0 ? thinking_mode::chat : thinking_mode::thinking;
        SCOPED_TRACE(testing::Message() << "iteration " << iter << ": " << text);
        const std::optional<json> expected = whole_text(text, mode);
        std::vector<std::size_t> cuts = {0, text.size()};
        for (int k = 0; k < 4; ++k) cuts.push_back(pick(text.size() + 1));
        std::sort(cuts.begin(), cuts.end());
        std::vector<std::string_view> pieces;
        for (std::size_t k = 0; k + 1 < cuts.size(); ++k) pieces.push_back(std::string_view(text).substr(cuts[k], cuts[k + 1] - cuts[k]));
        std::vector<std::string_view> bytes;
        for (std::size_t k = 0; k < text.size(); ++k) bytes.push_back(std::string_view(text).substr(k, 1));
        for (const auto* p : {&pieces, &bytes}) {
            const stream_result r = run_stream(*p, mode);
            ASSERT_EQ(r.message.has_value(), expected.has_value());
            if (expected) {
                EXPECT_EQ(*r.message, *expected);
                EXPECT_EQ(message_from_events(r.events), *expected);
            }
        }
        (expected ? accepted : rejected)++;
    }
    // Both outcomes must be well represented for the comparison to mean something.
    EXPECT_GT(accepted, 200);
    EXPECT_GT(rejected, 1000);
}

// Merges consecutive events of the same kind and call, as a client printing them would see them.
std::vector<stream_event> coalesce(const std::vector<stream_event>& events) {
    std::vector<stream_event> out;
    for (const stream_event& e : events) {
        const bool mergeable = e.type == kind::reasoning_delta || e.type == kind::content_delta ||
                               e.type == kind::tool_call_arguments;
        if (mergeable && !out.empty() && out.back().type == e.type && out.back().index == e.index)
            out.back().text += e.text;
        else
            out.push_back(e);
    }
    return out;
}

TEST(ChatStream, EventsFedByteByByte) {
    const std::string text =
        "think é</think>answer\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get\">\n"
        "<｜DSML｜parameter name=\"q\" string=\"true\">a \"b\"</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"n\" string=\"false\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"put\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";
    completion_stream s(thinking_mode::thinking);
    std::vector<stream_event> events;
    std::size_t content_events = 0;
    for (std::size_t i = 0; i < text.size(); ++i)
        for (auto& e : s.feed(text.substr(i, 1))) {
            content_events += e.type == kind::content_delta;
            events.push_back(std::move(e));
        }
    for (auto& e : s.finish()) events.push_back(std::move(e));
    const std::vector<stream_event> expected = {
        {kind::reasoning_delta, "think é", 0},
        {kind::content_delta, "answer", 0},
        {kind::tool_call_begin, "get", 0},
        {kind::tool_call_arguments, R"({"q": "a \"b\"", "n": 2})", 0},
        {kind::tool_call_end, "", 0},
        {kind::tool_call_begin, "put", 1},
        {kind::tool_call_arguments, "{}", 1},
        {kind::tool_call_end, "", 1},
        {kind::done, "", 0},
    };
    EXPECT_EQ(coalesce(events), expected);
    EXPECT_EQ(content_events, 6u);  // content is reported as it arrives, not at the end
    EXPECT_EQ(s.message(), parse_completion(text, thinking_mode::thinking));
}

TEST(ChatStream, RejectsAsSoonAsNoContinuationFits) {
    completion_stream s(thinking_mode::chat);
    EXPECT_EQ(coalesce(s.feed("ok<｜end▁of▁sentence｜>")), (std::vector<stream_event>{{kind::content_delta, "ok", 0}}));
    EXPECT_THROW(s.feed("x"), completion_error);
    EXPECT_THROW(s.feed(""), completion_error);  // the stream stays rejected
    EXPECT_THROW(s.finish(), completion_error);

    completion_stream t(thinking_mode::chat);
    t.feed("\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>");
    EXPECT_THROW(t.feed("\n\n"), completion_error);  // only an invoke or the block end may follow ">\n"

    completion_stream u(thinking_mode::thinking);
    u.feed("still thinking");
    EXPECT_THROW(u.finish(), completion_error);
    EXPECT_THROW(u.message(), dsv4::error);
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
