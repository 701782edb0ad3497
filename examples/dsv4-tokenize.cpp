// dsv4-tokenize — encode UTF-8 text to token ids, or decode ids to text, with a
// Hugging Face tokenizer.json (DeepSeek byte-level BPE).
//
//   dsv4-tokenize --tokenizer tokenizer.json < text.txt          prints [id, id, ...]
//   dsv4-tokenize --tokenizer tokenizer.json --decode < ids.json  prints the text
//
// Why a CLI: to check ids against other implementations from a shell, and to
// inspect prompts. Bad input (invalid UTF-8, ids that are not a JSON array of
// known ids, an unreadable or unsupported tokenizer.json) prints a message on
// stderr and exits with status 2.
#include <dsv4/text/tokenizer.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::string read_stdin() {
    std::ios::sync_with_stdio(false);
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

std::vector<std::int32_t> parse_ids(const std::string& text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        dsv4::fail("stdin is not JSON: ", e.what());
    }
    if (!j.is_array()) dsv4::fail("stdin must be a JSON array of token ids");
    std::vector<std::int32_t> ids;
    ids.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) {
        const auto& v = j[i];
        if (!v.is_number_integer() || v.get<std::int64_t>() < INT32_MIN || v.get<std::int64_t>() > INT32_MAX)
            dsv4::fail("element ", i, " of the id array is not an integer id: ", v.dump());
        ids.push_back(v.get<std::int32_t>());
    }
    return ids;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Encode UTF-8 text (stdin) to token ids, or decode ids to text, with a tokenizer.json"};
    std::string tokenizer_path;
    bool decode = false, skip_special = false, lossy = false;
    app.add_option("--tokenizer", tokenizer_path, "Hugging Face tokenizer.json")->required();
    app.add_flag("--decode", decode, "read a JSON array of ids on stdin and print the text");
    app.add_flag("--skip-special-tokens", skip_special, "with --decode: drop special tokens (BOS, EOS, ...)");
    app.add_flag("--lossy", lossy, "replace invalid UTF-8 in the input with U+FFFD instead of failing");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    try {
        const auto tok = dsv4::text::tokenizer::from_file(tokenizer_path);
        const std::string input = read_stdin();
        if (decode) {
            const std::string text = tok.decode(parse_ids(input), skip_special);
            std::fwrite(text.data(), 1, text.size(), stdout);
        } else {
            const auto ids = tok.encode(input, lossy ? dsv4::text::invalid_utf8::replace : dsv4::text::invalid_utf8::error);
            std::string out = "[";
            for (std::size_t i = 0; i < ids.size(); ++i) {
                if (i) out += ", ";
                out += std::to_string(ids[i]);
            }
            out += "]\n";
            std::fwrite(out.data(), 1, out.size(), stdout);
        }
        if (std::fflush(stdout) != 0) {
            std::fprintf(stderr, "dsv4-tokenize: cannot write the output\n");
            return 2;
        }
    } catch (const dsv4::error& e) {
        std::fprintf(stderr, "dsv4-tokenize: %s\n", e.what());
        return 2;
    }
    return 0;
}
