// dsv4-chat — DeepSeek-V4 chat format from the shell: build prompts, parse completions.
//
//   dsv4-chat encode --mode chat|thinking [--effort high|max] [--keep-thinking] [--no-bos]
//                    [--context FILE] [--ids --tokenizer FILE]  < messages.json
//       prints the prompt text exactly (no newline added), or with --ids its token ids
//   dsv4-chat parse --mode chat|thinking  < completion.txt
//       prints the assistant message as JSON; a completion the official parser would
//       reject prints the reason on stderr and exits with status 2
//
// Why a CLI: to compare prompts and parses with the official Python encoder byte for byte,
// and to inspect what the model is given. JSON is read and written with Python's rules
// (dsv4/text/pyjson.hpp), so big integers and float spellings survive. Other errors (bad
// messages, unreadable files) exit with status 1.
#include <dsv4/text/chat.hpp>
#include <dsv4/text/tokenizer.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

namespace {

std::string read_stdin() {
    std::ios::sync_with_stdio(false);
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) dsv4::fail("cannot open ", path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

int write_stdout(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    if (std::fflush(stdout) != 0) {
        std::fprintf(stderr, "dsv4-chat: cannot write the output\n");
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dsv4::text;
    CLI::App app{"DeepSeek-V4 chat format: encode messages to a prompt, parse a completion to a message"};
    app.require_subcommand(1);
    // Modes and efforts are read as names and mapped after parsing, so that --help and
    // errors show the names.
    std::string mode_name, effort_name = "high", parse_mode_name;
    bool keep_thinking = false, no_bos = false, ids = false;
    std::string context_path, tokenizer_path;
    CLI::App* enc = app.add_subcommand("encode", "JSON array of messages (stdin) -> prompt text");
    enc->add_option("--mode", mode_name, "chat (Non-think) or thinking (Think High / Max)")
        ->required()
        ->check(CLI::IsMember({"chat", "thinking"}));
    enc->add_option("--effort", effort_name, "reasoning effort in thinking mode: high (default) or max")
        ->check(CLI::IsMember({"high", "max"}));
    enc->add_flag("--keep-thinking", keep_thinking, "keep the reasoning of earlier turns (drop_thinking=False)");
    enc->add_flag("--no-bos", no_bos, "do not start with BOS (add_default_bos_token=False)");
    enc->add_option("--context", context_path, "JSON array of earlier, already encoded messages")
        ->check(CLI::ExistingFile);
    enc->add_flag("--ids", ids, "print the token ids (JSON array) instead of the text");
    enc->add_option("--tokenizer", tokenizer_path, "tokenizer.json, for --ids")->check(CLI::ExistingFile);

    CLI::App* par = app.add_subcommand("parse", "completion text (stdin) -> assistant message JSON");
    par->add_option("--mode", parse_mode_name, "mode the prompt was encoded in: chat or thinking")
        ->required()
        ->check(CLI::IsMember({"chat", "thinking"}));

    try {
        app.parse(argc, argv);
        if (ids && tokenizer_path.empty()) throw CLI::RequiresError("--ids", "--tokenizer");
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 1;
    }

    try {
        if (enc->parsed()) {
            encode_options opt;
            opt.mode = mode_name == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
            opt.effort = effort_name == "max" ? reasoning_effort::max : reasoning_effort::high;
            opt.drop_thinking = !keep_thinking;
            opt.add_bos = !no_bos;
            const auto messages = pyjson::parse(read_stdin(), "stdin");
            const auto context =
                context_path.empty() ? nlohmann::ordered_json() : pyjson::parse(read_file(context_path), context_path);
            const std::string prompt = encode_messages(messages, opt, context);
            if (!ids) return write_stdout(prompt);
            const auto tok = tokenizer::from_file(tokenizer_path);
            std::string out = "[";
            for (const std::int32_t id : tok.encode(prompt)) {
                if (out.size() > 1) out += ", ";
                out += std::to_string(id);
            }
            return write_stdout(out + "]\n");
        }
        try {
            const thinking_mode mode = parse_mode_name == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
            return write_stdout(pyjson::dumps(parse_completion(read_stdin(), mode)) + "\n");
        } catch (const completion_error& e) {
            std::fprintf(stderr, "dsv4-chat: %s\n", e.what());
            return 2;
        }
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "dsv4-chat: %s\n", e.what());
        return 1;
    }
}
