// dsv4-chat — DeepSeek-V4 chat format from the shell: build prompts, parse completions, chat.
//
//   dsv4-chat encode --mode chat|thinking [--effort high|max] [--keep-thinking] [--no-bos]
//                    [--context FILE] [--ids --tokenizer FILE]  < messages.json
//       prints the prompt text exactly (no newline added), or with --ids its token ids
//   dsv4-chat parse --mode chat|thinking  < completion.txt
//       prints the assistant message as JSON; a completion the official parser would
//       reject prints the reason on stderr and exits with status 2
//   dsv4-chat run --checkpoint DIR --tokenizer FILE [encode options] [--max-new-tokens N]
//                 [--temperature T] [--seed S] [--threads N] [--verbose] [--replay FILE]
//                 < messages.json
//       encodes the messages, generates the assistant turn and streams it, then prints the
//       parsed message (the output format is described in run_help below)
//
// Why a CLI: to compare prompts and parses with the official Python encoder byte for byte,
// to inspect what the model is given, and to chat with a checkpoint end to end. JSON is read
// and written with Python's rules (dsv4/text/pyjson.hpp), so big integers and float
// spellings survive. Other errors (bad messages, unreadable files, a checkpoint that cannot
// be opened) exit with status 1.
#include <dsv4/runtime/generate.hpp>
#include <dsv4/runtime/known_models.hpp>
#include <dsv4/text/chat.hpp>
#include <dsv4/text/tokenizer.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace dsv4::text;

constexpr const char* run_help = R"(Output of `run` (stdout), streamed as tokens are generated:
  [reasoning]            then the reasoning text (thinking mode), as it grows
  [answer]               then the answer text, as it grows
  [tool call N] NAME ARGUMENTS
                         one line per tool call (N from 0), once the call is complete;
                         ARGUMENTS is the call's `arguments` JSON text
  [message]              then one line: the parsed assistant message as JSON (as `parse`)
Each [...] header starts a line. The completion given to the parser is the decoded tokens up
to the first end-of-sentence token, followed by that token's text, as the reference does.
--verbose adds on stderr: the prompt's token count and ids (as `encode --ids`), the
generated ids and timings. --replay FILE forces the first generated tokens to the tokens of
FILE's text (sampling goes on after them if it has no end-of-sentence): it shows how a given
completion streams and parses with this checkpoint running on it.
Exit status: 0 the turn ended with end-of-sentence and parsed; 1 bad arguments, messages,
tokenizer or checkpoint; 2 the completion was rejected by the parser (the reason and the raw
completion text go to stderr); 3 --max-new-tokens was reached before end-of-sentence (the
truncated text is still parsed with end-of-sentence appended, as the reference does, and its
message printed when accepted; the appended end-of-sentence is not shown as streamed text).
--max-new-tokens 0 generates nothing and so exits with 3.
)";

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

std::string ids_json(std::span<const std::int32_t> ids) {
    std::string out = "[";
    for (const std::int32_t id : ids) {
        if (out.size() > 1) out += ", ";
        out += std::to_string(id);
    }
    return out + "]";
}

// The prompt options shared by `encode` and `run`.
struct prompt_args {
    std::string mode_name, effort_name = "high", context_path;
    bool keep_thinking = false, no_bos = false;

    void add_to(CLI::App* cmd) {
        cmd->add_option("--mode", mode_name, "chat (Non-think) or thinking (Think High / Max)")
            ->required()
            ->check(CLI::IsMember({"chat", "thinking"}));
        cmd->add_option("--effort", effort_name, "reasoning effort in thinking mode: high (default) or max")
            ->check(CLI::IsMember({"high", "max"}));
        cmd->add_flag("--keep-thinking", keep_thinking, "keep the reasoning of earlier turns (drop_thinking=False)");
        cmd->add_flag("--no-bos", no_bos, "do not start with BOS (add_default_bos_token=False)");
        cmd->add_option("--context", context_path, "JSON array of earlier, already encoded messages")
            ->check(CLI::ExistingFile);
    }
    thinking_mode mode() const { return mode_name == "thinking" ? thinking_mode::thinking : thinking_mode::chat; }

    // The prompt text of the messages on stdin.
    std::string prompt() const {
        encode_options opt;
        opt.mode = mode();
        opt.effort = effort_name == "max" ? reasoning_effort::max : reasoning_effort::high;
        opt.drop_thinking = !keep_thinking;
        opt.add_bos = !no_bos;
        const auto messages = pyjson::parse(read_stdin(), "stdin");
        const auto context =
            context_path.empty() ? nlohmann::ordered_json() : pyjson::parse(read_file(context_path), context_path);
        return encode_messages(messages, opt, context);
    }
};

struct run_args {
    std::string checkpoint, tokenizer_path;
    int max_new_tokens = 300;  // generate.py's defaults
    float temperature = 0.6f;
    std::uint64_t seed = 33377335;
    int threads = 0;
    bool verbose = false;
    std::string replay_path;
};

// Writes stream events to stdout in the documented sections.
class stream_printer {
public:
    void print(const std::vector<stream_event>& events) {
        for (const auto& e : events) {
            switch (e.type) {
            case stream_event::kind::reasoning_delta: text(section::reasoning, "[reasoning]", shown(e.text)); break;
            case stream_event::kind::content_delta: text(section::answer, "[answer]", shown(e.text)); break;
            case stream_event::kind::tool_call_begin:
                call_name_ = e.text;
                call_args_.clear();
                break;
            case stream_event::kind::tool_call_arguments: call_args_ += e.text; break;
            case stream_event::kind::tool_call_end:
                start_line();
                out("[tool call " + std::to_string(e.index) + "] " + call_name_ + " " + call_args_ + "\n");
                section_ = section::none;
                break;
            case stream_event::kind::done: break;
            }
        }
        std::fflush(stdout);
    }
    void message(const nlohmann::ordered_json& m) {
        start_line();
        out("[message]\n" + pyjson::dumps(m) + "\n");
        std::fflush(stdout);
    }
    // From now on the text ends with an end-of-sentence the model did not generate (the
    // reference appends one when the limit is reached first): it is parsed, not shown.
    void hide_final(std::string_view eos_text) { hidden_ = eos_text; }
    // Ends a partly written line (before anything goes to stderr).
    void end_line() {
        start_line();
        std::fflush(stdout);
    }

private:
    enum class section { none, reasoning, answer };
    std::string shown(std::string t) const {
        // The appended end-of-sentence is fed in one piece and nothing follows it, so it is
        // whole at the end of the delta that carries it.
        if (!hidden_.empty() && t.ends_with(hidden_)) t.resize(t.size() - hidden_.size());
        return t;
    }
    void out(const std::string& s) {
        if (s.empty()) return;
        std::fwrite(s.data(), 1, s.size(), stdout);
        at_line_start_ = s.back() == '\n';
    }
    void start_line() {
        if (!at_line_start_) out("\n");
    }
    void text(section s, const char* header, const std::string& t) {
        if (t.empty()) return;
        if (section_ != s) {
            start_line();
            out(std::string(header) + "\n");
            section_ = s;
        }
        out(t);
    }
    section section_ = section::none;
    bool at_line_start_ = true;
    std::string call_name_, call_args_;
    std::string hidden_;
};

int run(const prompt_args& pa, const run_args& ra) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(ra.checkpoint)) dsv4::fail("--checkpoint ", ra.checkpoint, ": no such folder");
    if (!fs::exists(fs::path(ra.checkpoint) / "config.json"))
        dsv4::fail("--checkpoint ", ra.checkpoint, ": no config.json in this folder (is it a checkpoint folder?)");
    const std::string prompt_text = pa.prompt();
    const auto tok = tokenizer::from_file(ra.tokenizer_path);
    const std::int32_t eos = tok.require_token(tokens::eos);
    const std::vector<std::int32_t> prompt = tok.encode(prompt_text);
    const std::vector<std::int32_t> forced =
        ra.replay_path.empty() ? std::vector<std::int32_t>() : tok.encode(read_file(ra.replay_path));
    if (ra.verbose) {
        std::fprintf(stderr, "prompt: %zu tokens\nprompt ids: %s\n", prompt.size(), ids_json(prompt).c_str());
    }
    const auto model = dsv4::open_model(ra.checkpoint, {.threads = ra.threads});
    const std::size_t vocab = std::size_t(model->shape().vocab_size);
    if (std::size_t(eos) >= vocab)
        dsv4::fail("the end-of-sentence id ", eos, " is outside the model's vocabulary (", vocab,
                   "): is the tokenizer the checkpoint's?");

    stream_printer printer;
    completion_stream stream(pa.mode());
    incremental_decoder decoder(tok, false, unknown_ids::skip);  // ids without a token decode to nothing, as HF
    std::string completion;
    bool eos_appended = false;
    auto feed = [&](const std::string& piece) {
        completion += piece;
        printer.print(stream.feed(piece));
    };
    // A completion the parser rejects ends generation at that token (the error is raised
    // again below, where the exit status is decided).
    std::exception_ptr rejected;
    dsv4::generate_options gen;
    gen.max_new_tokens = ra.max_new_tokens;
    gen.temperature = ra.temperature;
    gen.seed = ra.seed;
    gen.eos = eos;
    gen.forced = {forced};  // --replay: the first tokens are the given completion's
    gen.stop = [&](std::size_t, std::span<const std::int32_t>) { return rejected != nullptr; };
    dsv4::generation g;
    auto report = [&](int status) {
        if (ra.verbose) {
            const std::size_t steps = g.tokens.empty() ? 0 : g.tokens.size() - 1;
            std::fprintf(stderr, "generated: %zu tokens%s\ngenerated ids: %s\n", g.tokens.size(),
                         g.hit_eos ? " (end-of-sentence)" : "", ids_json(g.tokens).c_str());
            std::fprintf(stderr, "prefill %.1f ms, decode %.1f tokens/s\n", g.prefill_seconds * 1e3,
                         g.decode_seconds > 0 ? double(steps) / g.decode_seconds : 0.0);
        }
        return status;
    };
    try {
        g = dsv4::generate(*model, {prompt}, gen, [&](std::size_t, std::int32_t id) {
            if (rejected) return;
            try {
                feed(decoder.push(id));
            } catch (const completion_error&) {
                rejected = std::current_exception();
            }
        })[0];
        if (rejected) std::rethrow_exception(rejected);
        // The reference appends EOS when the limit was reached first.
        if (!g.hit_eos) {
            eos_appended = true;
            printer.hide_final(tokens::eos);
            feed(decoder.push(eos));
        }
        feed(decoder.flush());
        printer.print(stream.finish());
        printer.message(stream.message());
    } catch (const completion_error& e) {
        printer.end_line();
        if (eos_appended) {
            std::fprintf(stderr, "dsv4-chat: stopped at --max-new-tokens %d before end-of-sentence; the truncated "
                                 "completion (end-of-sentence appended) is not accepted: %s\n",
                         ra.max_new_tokens, e.what());
            return report(3);
        }
        std::fprintf(stderr, "dsv4-chat: after %zu generated tokens: %s\ndsv4-chat: completion text: %s\n",
                     g.tokens.size(), e.what(), pyjson::dumps(nlohmann::ordered_json(completion)).c_str());
        return report(2);
    }
    if (!g.hit_eos) {
        std::fprintf(stderr, "dsv4-chat: stopped at --max-new-tokens %d before end-of-sentence; the message above "
                             "is parsed from the truncated completion\n", ra.max_new_tokens);
        return report(3);
    }
    return report(0);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"DeepSeek-V4 chat format: encode messages to a prompt, parse a completion to a message, "
                 "or run a checkpoint on messages"};
    app.require_subcommand(1);
    // Modes and efforts are read as names and mapped after parsing, so that --help and
    // errors show the names.
    prompt_args enc_args, run_prompt;
    run_args ra;
    std::string parse_mode_name, tokenizer_path;
    bool ids = false;
    CLI::App* enc = app.add_subcommand("encode", "JSON array of messages (stdin) -> prompt text");
    enc_args.add_to(enc);
    enc->add_flag("--ids", ids, "print the token ids (JSON array) instead of the text");
    enc->add_option("--tokenizer", tokenizer_path, "tokenizer.json, for --ids")->check(CLI::ExistingFile);

    CLI::App* par = app.add_subcommand("parse", "completion text (stdin) -> assistant message JSON");
    par->add_option("--mode", parse_mode_name, "mode the prompt was encoded in: chat or thinking")
        ->required()
        ->check(CLI::IsMember({"chat", "thinking"}));

    CLI::App* run_cmd = app.add_subcommand(
        "run", "JSON array of messages (stdin) -> generate the assistant turn with a checkpoint, streamed");
    run_cmd->footer(run_help);
    run_prompt.add_to(run_cmd);
    run_cmd->add_option("--checkpoint", ra.checkpoint, "checkpoint folder (config.json + safetensors)")->required();
    run_cmd->add_option("--tokenizer", ra.tokenizer_path, "the checkpoint's tokenizer.json")
        ->required()
        ->check(CLI::ExistingFile);
    run_cmd->add_option("-n,--max-new-tokens", ra.max_new_tokens, "most tokens to generate (default 300)")
        ->check(CLI::NonNegativeNumber);
    run_cmd->add_option("--temperature", ra.temperature, "sampling temperature, 0 = greedy (default 0.6)")
        ->check(CLI::NonNegativeNumber);
    run_cmd->add_option("--seed", ra.seed, "sampling seed (default 33377335, generate.py's)");
    run_cmd->add_option("--threads", ra.threads, "worker threads (0 = all)")->check(CLI::NonNegativeNumber);
    run_cmd->add_flag("-v,--verbose", ra.verbose, "prompt ids, generated ids and timings on stderr");
    run_cmd->add_option("--replay", ra.replay_path, "force the first generated tokens to those of this text")
        ->check(CLI::ExistingFile);

    try {
        app.parse(argc, argv);
        if (ids && tokenizer_path.empty()) throw CLI::RequiresError("--ids", "--tokenizer");
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 1;
    }

    try {
        if (enc->parsed()) {
            const std::string prompt = enc_args.prompt();
            if (!ids) return write_stdout(prompt);
            const auto tok = tokenizer::from_file(tokenizer_path);
            return write_stdout(ids_json(tok.encode(prompt)) + "\n");
        }
        if (run_cmd->parsed()) return run(run_prompt, ra);
        try {
            const thinking_mode mode = parse_mode_name == "thinking" ? thinking_mode::thinking : thinking_mode::chat;
            return write_stdout(pyjson::dumps(parse_completion(read_stdin(), mode)) + "\n");
        } catch (const completion_error& e) {
            std::fprintf(stderr, "dsv4-chat: %s\n", e.what());
            return 2;
        }
    } catch (const dsv4::error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "dsv4-chat: %s\n", e.what());
        return 1;
    }
}
