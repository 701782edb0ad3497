// Tests of dsv4/text/chat_encode.hpp and chat_parse.hpp against the golden vectors recorded
// from the official Python encoder (tests/data/golden-encoding/cases.json), plus the input
// checks that have no golden counterpart (malformed messages, Python JSON rules).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <dsv4/text/chat.hpp>

namespace {

using json = nlohmann::ordered_json;
using namespace dsv4::text;

const json& golden_cases() {
    static const json cases = [] {
        std::ifstream in(DSV4_TEST_DATA "/golden-encoding/cases.json", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return pyjson::parse(ss.str(), "cases.json");
    }();
    return cases;
}

encode_options options_of(const json& c) {
    encode_options o;
    o.mode = c["thinking_mode"] == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
    o.effort = c["reasoning_effort"] == "max" ? reasoning_effort::max : reasoning_effort::high;
    o.drop_thinking = c["drop_thinking"].get<bool>();
    o.add_bos = c["add_default_bos_token"].get<bool>();
    return o;
}

std::string encode_case(const json& c) { return encode_messages(c["messages"], options_of(c), c["context"]); }

TEST(ChatEncode, GoldenCasesByteExact) {
    int n = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "encode") continue;
        SCOPED_TRACE(c["name"].get<std::string>());
        EXPECT_EQ(encode_case(c), c["prompt"].get<std::string>());
        ++n;
    }
    EXPECT_EQ(n, 70);
}

thinking_mode mode_of(const json& c) {
    return c["thinking_mode"] == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
}

TEST(ChatParse, GoldenCasesAcceptAndReject) {
    int accepted = 0, rejected = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "parse") continue;
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::string text = c["completion"].get<std::string>();
        if (c["error"].is_null()) {
            const json got = parse_completion(text, mode_of(c));
            EXPECT_EQ(pyjson::dumps(got), pyjson::dumps(c["parsed"]));
            EXPECT_EQ(got, c["parsed"]);
            ++accepted;
        } else {
            EXPECT_THROW(parse_completion(text, mode_of(c)), completion_error);
            ++rejected;
        }
    }
    EXPECT_EQ(accepted, 17);
    EXPECT_EQ(rejected, 7);
}

}  // namespace
