// libFuzzer target: dsv4::text::tokenizer::from_json on a tokenizer.json text, then encode and
// decode with the loaded tokenizer.
//
// Contract: loading either succeeds or throws dsv4::error naming the field. A loaded
// tokenizer must encode valid UTF-8 (a fixed sample that exercises the split patterns,
// byte-level fallback and every added token) without crashing; encode may only fail with
// dsv4::error (e.g. a PCRE2 match limit). Every id encode returns names a token, so decoding
// those ids must not throw. Any other exception, a crash, a sanitizer report or a timeout is
// a finding.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <dsv4/text.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view json_text(reinterpret_cast<const char*>(data), size);
    std::optional<dsv4::text::tokenizer> tok;
    try {
        tok = dsv4::text::tokenizer::from_json(json_text);
    } catch (const dsv4::error&) {
        return 0;  // rejected tokenizer.json
    }
    std::string sample = "Hello, world! It's 2024: 12345 tokens.\n\n  \t héllo 你好 🙂\r\n";
    for (const auto& t : tok->added_tokens()) sample += " " + t.content + "x";
    std::vector<std::int32_t> ids;
    try {
        ids = tok->encode(sample);
    } catch (const dsv4::error&) {
        return 0;
    }
    for (const std::int32_t id : ids) dsv4::fuzz::check(tok->id_to_token(id).has_value(), "encode returned an id without a token");
    // Must not throw: every id names a token.
    (void)tok->decode(ids);
    (void)tok->decode(ids, /*skip_special_tokens=*/true);
    return 0;
}
