// Tests of `dsv4-chat run` (examples/dsv4-chat.cpp): the whole text + model path on a
// random-weight model with the V4 vocabulary (ChatTinyConfig), written at test time.
//
// Random weights say nothing about answers, so the checks are about the plumbing: the prompt
// the tool feeds the model is exactly `dsv4-chat encode --ids`; greedy runs repeat; the
// generated ids respect --max-new-tokens and EOS; what is printed is what the ids decode to;
// the documented exit statuses; a bad checkpoint folder is a clear error.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <dsv4/config/mini.hpp>
#include <dsv4/io/random_checkpoint.hpp>
#include <dsv4/text/chat.hpp>
#include <dsv4/text/tokenizer.hpp>

namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

const std::string chat_exe = DSV4_BINARY_DIR "/examples/dsv4-chat";
const std::string tokenizer_path = DSV4_TEST_DATA "/golden-tokenizer/tokenizer.json";

bool cli_built() { return fs::exists(chat_exe); }

// A folder of this process under the build tree (ctest runs each test in its own process).
const fs::path& work_dir() {
    static const fs::path dir = [] {
        const fs::path d = fs::path(DSV4_BINARY_DIR) / "test-tmp" / ("chat_run_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

struct cleanup {
    ~cleanup() {
        std::error_code ec;
        fs::remove_all(fs::path(DSV4_BINARY_DIR) / "test-tmp" / ("chat_run_" + std::to_string(::getpid())), ec);
    }
} cleanup_at_exit;

// The random-weight checkpoint, written once per process.
const std::string& checkpoint() {
    static const std::string folder = [] {
        const std::string f = (work_dir() / "chat-tiny").string();
        dsv4::write_random_checkpoint(f, dsv4::shape_of<dsv4::ChatTinyConfig>(), 20260101);
        return f;
    }();
    return folder;
}

struct result {
    std::string out, err;
    int status = -1;
};

result run_cli(const std::string& args, const std::string& input) {
    const std::string in = (work_dir() / "in.json").string(), err = (work_dir() / "err.txt").string();
    {
        std::ofstream f(in, std::ios::binary);
        f << input;
    }
    const std::string cmd = "'" + chat_exe + "' " + args + " < '" + in + "' 2> '" + err + "'";
    result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int rc = ::pclose(p);
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    std::ifstream e(err, std::ios::binary);
    std::stringstream ss;
    ss << e.rdbuf();
    r.err = ss.str();
    return r;
}

std::string run_args(const std::string& mode, const std::string& extra, int threads = 1) {
    return "run --checkpoint '" + checkpoint() + "' --tokenizer '" + tokenizer_path + "' --mode " + mode +
           " --threads " + std::to_string(threads) + " " + extra;
}

// The value after "label: " on its own stderr line, or "" when absent.
std::string line_value(const std::string& text, const std::string& label) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(label + ": ", 0) == 0) return line.substr(label.size() + 2);
    return "";
}

std::vector<std::int32_t> ids_of(const std::string& json_text) {
    std::vector<std::int32_t> ids;
    for (const auto& v : json::parse(json_text)) ids.push_back(v.get<std::int32_t>());
    return ids;
}

const std::string user_only = R"([{"role": "user", "content": "Hello! What is 2 + 2?"}])";
const std::string with_tools = R"([
  {"role": "system", "content": "You are a helpful assistant.", "tools": [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]},
  {"role": "user", "content": "Weather in Paris?"},
  {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
  {"role": "tool", "content": "{\"temperature\": 21}"},
  {"role": "user", "content": "Thanks, and in Rome?"}
])";

TEST(ChatRun, PromptIdsAreThoseOfEncode) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    struct variant {
        std::string mode, options, messages;
    };
    for (const variant& v : {variant{"chat", "", user_only}, variant{"thinking", "--effort max", with_tools},
                             variant{"thinking", "--keep-thinking --no-bos", with_tools}}) {
        SCOPED_TRACE(v.mode + " " + v.options);
        const result enc = run_cli("encode --ids --tokenizer '" + tokenizer_path + "' --mode " + v.mode + " " +
                                       v.options, v.messages);
        ASSERT_EQ(enc.status, 0) << enc.err;
        const result run = run_cli(run_args(v.mode, v.options + " -n 1 --temperature 0 --verbose"), v.messages);
        EXPECT_TRUE(run.status == 0 || run.status == 2 || run.status == 3) << run.err;
        EXPECT_EQ(line_value(run.err, "prompt ids") + "\n", enc.out);
        EXPECT_EQ(line_value(run.err, "prompt"), std::to_string(ids_of(enc.out).size()) + " tokens");
    }
}

TEST(ChatRun, GreedyRunsRepeatAndRespectTheLimit) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    const auto tok = dsv4::text::tokenizer::from_file(tokenizer_path);
    const std::int32_t eos = tok.require_token(dsv4::text::tokens::eos);
    for (const std::string mode : {"chat", "thinking"}) {
        SCOPED_TRACE(mode);
        const result a = run_cli(run_args(mode, "-n 12 --temperature 0 -v"), with_tools);
        const result b = run_cli(run_args(mode, "-n 12 --temperature 0 -v", 2), with_tools);
        EXPECT_EQ(a.out, b.out);
        EXPECT_EQ(a.status, b.status);
        const std::string ids_a = line_value(a.err, "generated ids");
        EXPECT_EQ(ids_a, line_value(b.err, "generated ids"));
        const auto ids = ids_of(ids_a);
        ASSERT_LE(ids.size(), 12u);
        ASSERT_FALSE(ids.empty());
        const bool ended = ids.back() == eos;
        // 0: EOS and parsed; 2: rejected (possibly early); 3: the limit came first.
        if (a.status == 0) {
            EXPECT_TRUE(ended);
        } else if (a.status == 3) {
            EXPECT_EQ(ids.size(), 12u);
            EXPECT_FALSE(ended);
            EXPECT_NE(a.err.find("--max-new-tokens 12"), std::string::npos) << a.err;
        } else {
            EXPECT_EQ(a.status, 2) << a.err;
            EXPECT_NE(a.err.find("completion text: "), std::string::npos) << a.err;
        }
        // An accepted message holds exactly what the ids decode to (with EOS appended).
        const std::string message = line_value("x: " + a.out.substr(a.out.rfind("[message]\n") + 10), "x");
        if (a.status != 2 && a.out.find("[message]\n") != std::string::npos) {
            std::vector<std::int32_t> all = ids;
            if (!ended) all.push_back(eos);
            const json expected = dsv4::text::parse_completion(
                tok.decode(all, false, dsv4::text::unknown_ids::skip),
                mode == "chat" ? dsv4::text::thinking_mode::chat : dsv4::text::thinking_mode::thinking);
            EXPECT_EQ(message, dsv4::text::pyjson::dumps(expected));
        }
    }
}

// A completion forced with --replay streams in the documented sections and parses.
TEST(ChatRun, ReplayedCompletionStreamsInSections) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    const std::string eos(dsv4::text::tokens::eos);
    const std::string completion =
        "The user asks about the weather.\nI should call the tool.</think>Let me check.\n\n"
        "<｜DSML｜tool_calls>\n"
        "<｜DSML｜invoke name=\"get_weather\">\n"
        "<｜DSML｜parameter name=\"city\" string=\"true\">Rome</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "</｜DSML｜tool_calls>" + eos;
    const std::string replay = (work_dir() / "replay.txt").string();
    {
        std::ofstream f(replay, std::ios::binary);
        f << completion;
    }
    const json expected = dsv4::text::parse_completion(completion, dsv4::text::thinking_mode::thinking);
    ASSERT_EQ(expected["tool_calls"].size(), 1u);
    const result r = run_cli(run_args("thinking", "--replay '" + replay + "' -v"), with_tools);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "[reasoning]\nThe user asks about the weather.\nI should call the tool.\n"
                     "[answer]\nLet me check.\n"
                     "[tool call 0] get_weather {\"city\": \"Rome\", \"days\": 3}\n"
                     "[message]\n" + dsv4::text::pyjson::dumps(expected) + "\n");
    // The limit cuts a replay like any generation.
    const result cut = run_cli(run_args("thinking", "--replay '" + replay + "' -n 4"), with_tools);
    EXPECT_EQ(cut.status, 3) << cut.err;
    EXPECT_EQ(cut.out.rfind("[reasoning]\nThe user", 0), 0u) << cut.out;
    // Replayed text that the parser rejects: status 2, reason and raw text on stderr.
    {
        std::ofstream f(replay, std::ios::binary);
        f << "no closing tag" << eos;
    }
    const result bad = run_cli(run_args("thinking", "--replay '" + replay + "'"), with_tools);
    EXPECT_EQ(bad.status, 2) << bad.err;
    EXPECT_NE(bad.err.find("</think>"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("completion text: \"no closing tag"), std::string::npos) << bad.err;
}

TEST(ChatRun, SampledRunsRepeatForOneSeed) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    const result a = run_cli(run_args("thinking", "-n 8 --temperature 1 --seed 7 -v"), user_only);
    const result b = run_cli(run_args("thinking", "-n 8 --temperature 1 --seed 7 -v"), user_only);
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(line_value(a.err, "generated ids"), line_value(b.err, "generated ids"));
    EXPECT_FALSE(line_value(a.err, "generated ids").empty()) << a.err;
    // A truncated run shows only generated text: no end-of-sentence the model did not produce.
    if (a.status == 3) {
        EXPECT_EQ(a.out.find(dsv4::text::tokens::eos), std::string::npos) << a.out;
    }
}

TEST(ChatRun, ZeroNewTokens) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    // Chat mode: the completion is EOS alone, an empty answer; the limit is still reported.
    const result chat = run_cli(run_args("chat", "-n 0 -v"), user_only);
    EXPECT_EQ(chat.status, 3) << chat.err;
    EXPECT_EQ(chat.out, "[message]\n{\"role\": \"assistant\", \"content\": \"\", \"reasoning_content\": \"\", "
                        "\"tool_calls\": []}\n");
    EXPECT_NE(chat.err.find("--max-new-tokens 0"), std::string::npos) << chat.err;
    EXPECT_EQ(line_value(chat.err, "generated ids"), "[]");
    // Thinking mode: EOS alone lacks </think>, so the truncated completion is rejected.
    // The appended EOS is parsed but not shown.
    const result think = run_cli(run_args("thinking", "-n 0"), user_only);
    EXPECT_EQ(think.status, 3) << think.err;
    EXPECT_EQ(think.out, "");
    EXPECT_NE(think.err.find("rejected"), std::string::npos) << think.err;
}

TEST(ChatRun, BadInputsAreClearErrors) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    const std::string missing = (work_dir() / "no-such-checkpoint").string();
    const result r = run_cli("run --checkpoint '" + missing + "' --tokenizer '" + tokenizer_path + "' --mode chat",
                             user_only);
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("no-such-checkpoint: no such folder"), std::string::npos) << r.err;

    fs::create_directories(work_dir() / "empty-checkpoint");
    const result empty = run_cli("run --checkpoint '" + (work_dir() / "empty-checkpoint").string() +
                                     "' --tokenizer '" + tokenizer_path + "' --mode chat",
                                 user_only);
    EXPECT_EQ(empty.status, 1);
    EXPECT_NE(empty.err.find("config.json"), std::string::npos) << empty.err;

    const result no_tokenizer = run_cli("run --checkpoint '" + checkpoint() + "' --mode chat", user_only);
    EXPECT_EQ(no_tokenizer.status, 1);
    EXPECT_NE(no_tokenizer.err.find("--tokenizer"), std::string::npos) << no_tokenizer.err;

    const result bad_messages = run_cli(run_args("chat", ""), R"({"role": "user"})");
    EXPECT_EQ(bad_messages.status, 1);
    EXPECT_NE(bad_messages.err.find("dsv4-chat: "), std::string::npos);
}

TEST(ChatRun, HelpDocumentsTheOutput) {
    if (!cli_built()) GTEST_SKIP() << "dsv4-chat is not built";
    const result r = run_cli("run --help", "");
    EXPECT_EQ(r.status, 0);
    for (const char* s : {"[reasoning]", "[answer]", "[tool call N]", "[message]", "Exit status", "--max-new-tokens"})
        EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

}  // namespace
