// Tests of dsv4/text/chat_encode.hpp and chat_parse.hpp against the golden vectors recorded
// from the official Python encoder (tests/data/golden-encoding/cases.json), plus the input
// checks that have no golden counterpart (malformed messages, Python JSON rules).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <dsv4/text/chat.hpp>

namespace chat_test {

using json = nlohmann::ordered_json;
using namespace dsv4::text;

// The golden vectors, read with Python's JSON rules (also used by chat_stream_test.cpp).
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

}  // namespace chat_test

namespace {

using json = nlohmann::ordered_json;
using namespace dsv4::text;
using chat_test::golden_cases;
using chat_test::mode_of;

encode_options options_of(const json& c) {
    encode_options o;
    o.mode = mode_of(c);
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

// ---- behaviour stated in docs/spec/ENCODING.md that the golden vectors do not pin ---------------------

namespace {

const std::string bos(tokens::bos), eos(tokens::eos);

std::string encode(const json& messages, thinking_mode mode, const json& context = nullptr) {
    encode_options o;
    o.mode = mode;
    return encode_messages(messages, o, context);
}

json call(std::string_view id, std::string_view name, json arguments) {
    return {{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", std::move(arguments)}}}};
}

json tool(std::string_view id, std::string_view content) {
    return {{"role", "tool"}, {"tool_call_id", id}, {"content", content}};
}

TEST(ChatEncode, AssistantWithoutPrecedingUserTurn) {
    const json two = json::parse(R"([{"role":"user","content":"q2"},
        {"role":"assistant","reasoning_content":"t2","content":"partial"},
        {"role":"assistant","reasoning_content":"t3","content":"more"}])");
    EXPECT_EQ(encode(two, thinking_mode::thinking),
              bos + "<｜User｜>q2<｜Assistant｜><think>t2</think>partial" + eos + "t3</think>more" + eos);
    const json sa = json::parse(R"([{"role":"system","content":"S"},{"role":"assistant","content":"a"}])");
    EXPECT_EQ(encode(sa, thinking_mode::chat), bos + "Sa" + eos);
}

TEST(ChatEncode, TransitionsAndTasks) {
    const json task_then_user =
        json::parse(R"([{"role":"user","content":"a","task":"query"},{"role":"user","content":"b"}])");
    EXPECT_EQ(encode(task_then_user, thinking_mode::chat), bos + "<｜User｜>a<｜User｜>b<｜Assistant｜></think>");
    const json reminder = json::parse(
        R"([{"role":"user","content":"q"},{"role":"latest_reminder","content":"2030-01-01"},{"role":"assistant","content":"a"}])");
    EXPECT_EQ(encode(reminder, thinking_mode::chat),
              bos + "<｜User｜>q<｜Assistant｜></think><｜latest_reminder｜>2030-01-01a" + eos);
    // The task of a message without a transition is never looked at.
    const json silent = json::parse(R"([{"role":"user","content":"a","task":"bogus"},{"role":"system","content":"S"}])");
    EXPECT_EQ(encode(silent, thinking_mode::chat), bos + "<｜User｜>aS");
    // A result merges into a task-bearing user turn; the token follows the merged content.
    const json merged = json::parse(R"([{"role":"user","content":"a","task":"domain"},
        {"role":"tool","tool_call_id":"x","content":"r"},{"role":"assistant","content":"d"}])");
    EXPECT_EQ(encode(merged, thinking_mode::thinking), bos + "<｜User｜>a\n\n<tool_result>r</tool_result><｜domain｜>d" + eos);
}

TEST(ChatEncode, DeveloperDroppedBeforeLastUserInThinkingMode) {
    const json m = json::parse(R"([{"role":"system","content":"S"},{"role":"developer","content":"Old"},
        {"role":"assistant","reasoning_content":"r","content":"ok"},{"role":"user","content":"new question"}])");
    EXPECT_EQ(encode(m, thinking_mode::thinking), bos + "Sok" + eos + "<｜User｜>new question<｜Assistant｜><think>");
    EXPECT_EQ(encode(m, thinking_mode::chat), bos + "S<｜User｜>Old<｜Assistant｜></think>ok" + eos +
                                                  "<｜User｜>new question<｜Assistant｜></think>");
    // A dropped developer message is not validated (upstream checks it only when rendering).
    const json empty_dev = json::parse(R"([{"role":"developer","content":""},{"role":"user","content":"q"}])");
    EXPECT_EQ(encode(empty_dev, thinking_mode::thinking), bos + "<｜User｜>q<｜Assistant｜><think>");
}

TEST(ChatEncode, ToolCallsWithoutToolsDropEarlierReasoning) {
    json m = json::array();
    m.push_back({{"role", "user"}, {"content", "q"}});
    m.push_back({{"role", "assistant"}, {"reasoning_content", "r1"}, {"tool_calls", {call("c1", "g", "{}")}}});
    m.push_back(tool("c1", "hot"));
    m.push_back({{"role", "assistant"}, {"reasoning_content", "r2"}, {"content", "Hot."}});
    EXPECT_EQ(encode(m, thinking_mode::thinking),
              bos + "<｜User｜>q<｜Assistant｜></think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"g\">\n\n"
                    "</｜DSML｜invoke>\n</｜DSML｜tool_calls>" + eos +
                  "<｜User｜><tool_result>hot</tool_result><｜Assistant｜><think>r2</think>Hot." + eos);
}

TEST(ChatEncode, ToolResultOrdering) {
    json m = json::array();
    m.push_back({{"role", "user"}, {"content", "q"}});
    m.push_back({{"role", "assistant"},
                 {"tool_calls", {call("A", "f", "{}"), call("B", "f", "{}"), call("C", "f", "{}")}}});
    for (const char* id : {"C", "ZZZ", "B", "A"}) m.push_back(tool(id, id));
    const std::string p = encode(m, thinking_mode::chat);
    EXPECT_TRUE(p.ends_with("<｜User｜><tool_result>ZZZ</tool_result>\n\n<tool_result>A</tool_result>\n\n"
                            "<tool_result>B</tool_result>\n\n<tool_result>C</tool_result><｜Assistant｜></think>"))
        << p;

    json n = json::array();
    n.push_back({{"role", "user"}, {"content", "q"}});
    n.push_back({{"role", "assistant"}, {"tool_calls", {call("1", "f", "{}"), call("2", "f", "{}")}}});
    n.push_back(tool("2", "rb"));
    n.push_back({{"role", "user"}, {"content", "interjection"}});
    n.push_back(tool("1", "ra"));
    const std::string q = encode(n, thinking_mode::chat);
    EXPECT_TRUE(q.ends_with("<｜User｜><tool_result>ra</tool_result>\n\ninterjection\n\n<tool_result>rb</tool_result>"
                            "<｜Assistant｜></think>"))
        << q;
}

TEST(ChatEncode, ContextRenderCountQuirk) {
    const json ctx = json::parse(R"([{"role":"system","content":"S"},{"role":"developer","content":"D"}])");
    EXPECT_EQ(encode(json::parse(R"([{"role":"user","content":"q"}])"), thinking_mode::thinking, ctx), "");
    json ctx2 = ctx;
    ctx2.push_back({{"role", "assistant"}, {"content", "a"}});
    const json m = json::parse(R"([{"role":"user","content":"q"},{"role":"assistant","reasoning_content":"r2","content":"a2"}])");
    EXPECT_EQ(encode(m, thinking_mode::thinking, ctx2), "r2</think>a2" + eos);
    // A tool result at the start of `messages` never merges into the context's last user turn.
    const json c3 = json::parse(R"([{"role":"user","content":"q"}])");
    EXPECT_EQ(encode(json::array({tool("x", "r")}), thinking_mode::chat, c3),
              "<｜User｜><tool_result>r</tool_result><｜Assistant｜></think>");
}

// The parameters the encoder writes for one call with the given `arguments`.
std::string params_of(json arguments) {
    json m = json::array();
    m.push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", {call("", "g", std::move(arguments))}}});
    encode_options o;
    o.add_bos = false;
    const std::string p = encode_messages(m, o);
    const std::string head = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"g\">\n";
    const std::string tail = "\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>" + eos;
    EXPECT_TRUE(p.starts_with(head) && p.ends_with(tail)) << p;
    return p.substr(head.size(), p.size() - head.size() - tail.size());
}

std::string param(std::string_view key, bool is_string, std::string_view value) {
    return "<｜DSML｜parameter name=\"" + std::string(key) + "\" string=\"" + (is_string ? "true" : "false") + "\">" +
           std::string(value) + "</｜DSML｜parameter>";
}

TEST(ChatEncode, ArgumentsReadWithPythonJsonRules) {
    EXPECT_EQ(params_of(""), param("arguments", true, ""));
    EXPECT_EQ(params_of("{}"), "");
    EXPECT_EQ(params_of(R"({"a": 1e400, "b": -1E400, "c": NaN, "d": 1e-400, "e": Infinity, "f": -Infinity})"),
              param("a", false, "Infinity") + "\n" + param("b", false, "-Infinity") + "\n" + param("c", false, "NaN") +
                  "\n" + param("d", false, "0.0") + "\n" + param("e", false, "Infinity") + "\n" +
                  param("f", false, "-Infinity"));
    const std::string big = "123456789012345678901234567890";
    const std::string huge = "-" + std::string(400, '7');
    EXPECT_EQ(params_of("{\"a\": " + big + ", \"b\": [" + huge + "], \"c\": 1.50, \"d\": 1e3, \"e\": -0}"),
              param("a", false, big) + "\n" + param("b", false, "[" + huge + "]") + "\n" + param("c", false, "1.5") +
                  "\n" + param("d", false, "1000.0") + "\n" + param("e", false, "0"));
    // Duplicate keys: first position, last value. Escapes are decoded, strings inserted raw.
    EXPECT_EQ(params_of(R"({"a": 1, "b": "x\u00e9\n\"", "a": [true, null]})"),
              param("a", false, "[true, null]") + "\n" + param("b", true, "xé\n\""));
    // Texts json.loads refuses become one string parameter.
    for (std::string bad : {std::string("\xEF\xBB\xBF{}"), std::string("{\"a\": -NaN}"), std::string("{\"a\": 1}x"),
                            std::string("{\"a\": NaNx}"), std::string("{\"a\": 1Infinity}"), std::string("{\"a\": 01}"),
                            std::string("{\"a\": \"\n\"}"), "{\"a\": " + std::string(4301, '9') + "}"})
        EXPECT_EQ(params_of(bad), param("arguments", true, bad));
    EXPECT_EQ(params_of("{\"a\": " + std::string(4300, '9') + "}"), param("a", false, std::string(4300, '9')));
    // Non-string arguments are written whole as JSON.
    EXPECT_EQ(params_of(json{{"x", 0.5}}), param("arguments", false, R"({"x": 0.5})"));
    EXPECT_EQ(params_of(nullptr), param("arguments", false, "null"));
}

void expect_encode_error(const json& messages, std::string_view needle, thinking_mode mode = thinking_mode::chat,
                         const json& context = nullptr) {
    try {
        encode(messages, mode, context);
        ADD_FAILURE() << "no error for " << messages.dump();
    } catch (const dsv4::error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(ChatEncode, MalformedMessagesNameIndexAndField) {
    expect_encode_error(json::object(), "messages: expected a JSON array");
    expect_encode_error(json::parse(R"([{"role":"user","content":"a"}, 5])"), "messages[1]: expected a JSON object");
    expect_encode_error(json::parse(R"([{"content":"a"}])"), "messages[0].role: missing");
    expect_encode_error(json::parse(R"([{"role":1}])"), "messages[0].role: expected a string");
    expect_encode_error(json::parse(R"([{"role":"user","content":"a"},{"role":"robot","content":"x"}])"),
                        "messages[1].role: unknown role \"robot\"");
    expect_encode_error(json::parse(R"([{"role":"user","content":null}])"), "messages[0].content: expected a string");
    expect_encode_error(json::parse(R"([{"role":"user","content":[{"type":"text","text":"a"}]}])"),
                        "messages[0].content: expected a string");
    expect_encode_error(json::parse(R"([{"role":"system","content":3}])"), "messages[0].content: expected a string");
    expect_encode_error(json::parse(R"([{"role":"latest_reminder"}])"), "messages[0].content: missing");
    expect_encode_error(json::parse(R"([{"role":"assistant","reasoning_content":{}}])"),
                        "messages[0].reasoning_content: expected a string");
    expect_encode_error(json::parse(R"([{"role":"developer","content":""}])"),
                        "messages[0].content: a developer message needs non-empty content");
    expect_encode_error(json::parse(R"([{"role":"system","tools":[{"type":"function"}]}])"),
                        "messages[0].tools[0].function: missing");
    expect_encode_error(json::parse(R"([{"role":"system","tools":{"a":1}}])"), "messages[0].tools: expected an array");
    expect_encode_error(json::parse(R"([{"role":"assistant","tool_calls":[{"id":"x"}]}])"),
                        "messages[0].tool_calls[0].function: missing");
    expect_encode_error(json::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":null,"arguments":"{}"}}]}])"),
                        "messages[0].tool_calls[0].function.name: expected a string");
    expect_encode_error(json::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}])"),
                        "messages[0].tool_calls[0].function.arguments: missing");
    expect_encode_error(json::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}])"),
                        "messages[0].tool_calls[0].function.arguments: expected a JSON object");
    expect_encode_error(json::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"a\": \"\\ud800\"}"}}]}])"),
                        "messages[0].tool_calls[0].function.arguments: a \\u escape decodes to an unpaired surrogate");
    expect_encode_error(json::parse(R"([{"role":"tool","content":[{"text":"a"}]}])"), "messages[0].content[0].type: missing");
    expect_encode_error(json::parse(R"([{"role":"tool","content":null}])"), "messages[0].content: expected a string or an array");
    expect_encode_error(json::parse(R"([{"role":"user","content":"a","task":"bogus"}])"), "messages[0].task: invalid task");
    expect_encode_error(json::parse(R"([{"role":"user","content":"a"}])"), "context[0].content: expected a string",
                        thinking_mode::chat, json::parse(R"([{"role":"user","content":7}])"));
}

TEST(ChatEncode, ToolResultParts) {
    const json m = json::parse(R"([{"role":"tool","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text"}]}])");
    EXPECT_EQ(encode(m, thinking_mode::chat),
              bos + "<｜User｜><tool_result>a\n\n[Unsupported image_url]\n\n</tool_result><｜Assistant｜></think>");
}

TEST(PyJson, FloatReprMatchesPython) {
    const std::pair<double, const char*> cases[] = {
        {0.5, "0.5"}, {1.0, "1.0"}, {1e-05, "1e-05"}, {1e+20, "1e+20"}, {-2.5e-07, "-2.5e-07"}, {1000.0, "1000.0"},
        {-0.0, "-0.0"}, {0.0, "0.0"}, {0.0001, "0.0001"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
        {1.5e300, "1.5e+300"}, {0.1, "0.1"}, {123456789.125, "123456789.125"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {1.0 / 3.0, "0.3333333333333333"},
        {12345678901234567.0, "1.2345678901234568e+16"}, {-1e-4, "-0.0001"}, {9.5e-5, "9.5e-05"}};
    for (const auto& [v, s] : cases) EXPECT_EQ(pyjson::float_repr(v), s);
}

TEST(PyJson, WritesLikeJsonDumpsEnsureAsciiFalse) {
    json v = pyjson::parse(R"({"s": "a\"b\\c\n\r\t\b\f\u0001\u007f/é😀\u2028", "n": [1, -2, 18446744073709551615, 2.50, null, true]})",
                           "test");
    EXPECT_EQ(pyjson::dumps(v),
              "{\"s\": \"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\x7f/é😀\u2028\", \"n\": [1, -2, 18446744073709551615, 2.5, null, true]}");
    EXPECT_THROW(pyjson::parse("{", "test"), dsv4::error);
    EXPECT_EQ(pyjson::read("[\"\\udc00\"]").status, pyjson::read_status::lone_surrogate);
    EXPECT_EQ(pyjson::read("[\"\\ud83d\\ude00\"]").value[0], "😀");
    EXPECT_EQ(pyjson::read(" [1] ").status, pyjson::read_status::ok);
    EXPECT_EQ(pyjson::read("\xC2\xA0[1]").status, pyjson::read_status::invalid);  // NBSP is not JSON whitespace
}

// Found while fuzzing the chat layer: the writer recursed once per nesting level, so a value
// nested 200000 deep (tool-call arguments, a tool schema) overflowed the stack.
TEST(PyJson, DeeplyNestedValuesAreWrittenWithoutRecursion) {
    const std::size_t depth = 200000;
    // Python's json.dumps layout: ", " and ": " separators, nothing else between brackets.
    const std::string nested = std::string(depth, '[') + R"({"a": [1, {}], "b": "x"})" + std::string(depth, ']');
    const auto r = pyjson::read(nested);
    ASSERT_EQ(r.status, pyjson::read_status::ok);
    EXPECT_EQ(pyjson::dumps(r.value), nested);

    const json messages = json::array(
        {json{{"role", "user"}, {"content", "q"}},
         json{{"role", "assistant"},
              {"content", ""},
              {"tool_calls", json::array({json{{"type", "function"},
                                               {"function", {{"name", "f"}, {"arguments", "{\"p\": " + nested + "}"}}}}})}}});
    const std::string prompt = encode_messages(messages);
    EXPECT_NE(prompt.find("<｜DSML｜parameter name=\"p\" string=\"false\">" + nested + "</｜DSML｜parameter>"),
              std::string::npos);
}

// Found while fuzzing the chat layer: the error for an invalid task quoted it with dump(),
// which recursed through a deeply nested value; containers are now named by their type.
TEST(ChatEncode, DeeplyNestedTaskIsNamedNotPrinted) {
    const std::string nested = std::string(200000, '[') + std::string(200000, ']');
    expect_encode_error(json::parse(R"([{"role": "user", "content": "a", "task": )" + nested + "}]"),
                        "messages[0].task: invalid task a JSON array; expected one of action");
}

TEST(ChatParse, RejectionsThrowCompletionError) {
    EXPECT_THROW(parse_completion("no end", thinking_mode::chat), completion_error);
    EXPECT_THROW(parse_completion("a" + eos + "b", thinking_mode::chat), completion_error);
    const json m = parse_completion("r</think>a" + eos, thinking_mode::thinking);
    EXPECT_EQ(m.dump(), R"({"role":"assistant","content":"a","reasoning_content":"r","tool_calls":[]})");
}

// A temp path unique to this process: ctest runs the tests of this file in parallel processes.
std::string unique_temp(const std::string& name) {
    return testing::TempDir() + "dsv4_" + std::to_string(::getpid()) + "_" + name;
}

std::string run_cli(const std::string& args, const std::string& input, int& status) {
    const std::string in_path = unique_temp("chat_cli_in.txt");
    {
        std::ofstream f(in_path, std::ios::binary);
        f << input;
    }
    const std::string cmd = std::string(DSV4_BINARY_DIR "/examples/dsv4-chat ") + args + " < '" + in_path + "' 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int rc = pclose(p);
    status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

bool cli_built() {
    std::ifstream f(DSV4_BINARY_DIR "/examples/dsv4-chat");
    return f.good();
}

TEST(ChatCli, EncodesGoldenCases) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    int checked = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "encode" || !c["context"].is_null()) continue;
        const std::string name = c["name"].get<std::string>();
        if (name != "official_test_1_thinking_tools" && name != "official_test_4_action_task_chat" &&
            name != "multiturn_thinkhigh_drop_false" && name != "gen_thinkmax_user_only" &&
            name != "tools_param_number_normalisation")
            continue;
        SCOPED_TRACE(name);
        std::string args = "encode --mode " + c["thinking_mode"].get<std::string>();
        if (c["reasoning_effort"] == "max") args += " --effort max";
        if (!c["drop_thinking"].get<bool>()) args += " --keep-thinking";
        if (!c["add_default_bos_token"].get<bool>()) args += " --no-bos";
        int status = -1;
        EXPECT_EQ(run_cli(args, pyjson::dumps(c["messages"]), status), c["prompt"].get<std::string>());
        EXPECT_EQ(status, 0);
        ++checked;
    }
    EXPECT_EQ(checked, 5);
}

TEST(ChatCli, EncodesWithContextFile) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    int checked = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "encode" || c["context"].is_null()) continue;
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::string ctx_path = unique_temp("chat_cli_context.json");
        {
            std::ofstream f(ctx_path, std::ios::binary);
            f << pyjson::dumps(c["context"]);
        }
        std::string args = "encode --mode " + c["thinking_mode"].get<std::string>() + " --context '" + ctx_path + "'";
        if (c["reasoning_effort"] == "max") args += " --effort max";
        int status = -1;
        EXPECT_EQ(run_cli(args, pyjson::dumps(c["messages"]), status), c["prompt"].get<std::string>());
        EXPECT_EQ(status, 0);
        ++checked;
    }
    EXPECT_EQ(checked, 2);
}

TEST(ChatCli, ParsesAndRejectsGoldenCases) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    int accepted = 0, rejected = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "parse") continue;
        SCOPED_TRACE(c["name"].get<std::string>());
        int status = -1;
        const std::string out = run_cli("parse --mode " + c["thinking_mode"].get<std::string>(),
                                        c["completion"].get<std::string>(), status);
        if (c["error"].is_null()) {
            EXPECT_EQ(status, 0);
            EXPECT_EQ(out, pyjson::dumps(c["parsed"]) + "\n");
            ++accepted;
        } else {
            EXPECT_EQ(status, 2);
            EXPECT_EQ(out, "");
            ++rejected;
        }
    }
    EXPECT_EQ(accepted, 17);
    EXPECT_EQ(rejected, 7);
}

TEST(ChatCli, PrintsTokenIds) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    int status = -1;
    const std::string out = run_cli("encode --mode chat --ids --tokenizer " DSV4_TEST_DATA "/golden-tokenizer/tokenizer.json",
                                    R"([{"role":"user","content":"hi"}])", status);
    EXPECT_EQ(status, 0);
    // BOS, <｜User｜>, "hi", <｜Assistant｜>, then "</think>" as plain text pieces.
    EXPECT_TRUE(out.starts_with("[0, 128803, ")) << out;
    EXPECT_NE(out.find(", 128804, "), std::string::npos) << out;
}

}  // namespace
