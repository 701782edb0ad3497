// Tests of dsv4/text/tokenizer.hpp against the golden vectors recorded from Hugging
// Face tokenizers 0.23.2 (tests/data/golden-tokenizer, see its README): every encode
// and decode case, the long text by count and SHA-256, every Unicode 16.0 code point,
// streaming decode, the error paths, added-token flags, and the dsv4-tokenize CLI.
#include <dsv4/text/tokenizer.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using dsv4::text::incremental_decoder;
using dsv4::text::tokenizer;
using json = nlohmann::json;

const std::string golden_dir = std::string(DSV4_TEST_DATA) + "/golden-tokenizer";

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const tokenizer& golden_tokenizer() {
    static const tokenizer tok = tokenizer::from_file(golden_dir + "/tokenizer.json");
    return tok;
}

const json& golden_cases() {
    static const json cases = json::parse(read_file(golden_dir + "/cases.json"));
    return cases;
}

const std::string& golden_tokenizer_json() {
    static const std::string text = read_file(golden_dir + "/tokenizer.json");
    return text;
}

// Minimal SHA-256 (FIPS 180-4) for the ids hashes of the README.
std::string sha256_hex(const std::string& msg) {
    static constexpr std::uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::string m = msg;
    const std::uint64_t bits = std::uint64_t(msg.size()) * 8;
    m += char(0x80);
    while (m.size() % 64 != 56) m += char(0);
    for (int i = 7; i >= 0; --i) m += char((bits >> (8 * i)) & 0xff);
    const auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
    for (std::size_t off = 0; off < m.size(); off += 64) {
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = std::uint32_t(std::uint8_t(m[off + 4 * i])) << 24 | std::uint32_t(std::uint8_t(m[off + 4 * i + 1])) << 16 |
                   std::uint32_t(std::uint8_t(m[off + 4 * i + 2])) << 8 | std::uint32_t(std::uint8_t(m[off + 4 * i + 3]));
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
    }
    char out[65];
    for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
    return std::string(out, 64);
}

std::string ids_le_bytes(const std::vector<std::int32_t>& ids) {
    std::string s;
    for (const std::int32_t id : ids)
        for (int b = 0; b < 4; ++b) s += char((std::uint32_t(id) >> (8 * b)) & 0xff);
    return s;
}

std::string fnv1a64_hex(const std::vector<std::int32_t>& ids) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : ids_le_bytes(ids)) {
        h ^= std::uint8_t(c);
        h *= 0x100000001b3ULL;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

// Streaming decode of ids, one at a time; must equal whole decode.
std::string decode_streaming(const tokenizer& tok, const std::vector<std::int32_t>& ids, bool skip_special) {
    incremental_decoder dec(tok, skip_special);
    std::string out;
    for (const std::int32_t id : ids) {
        const std::string piece = dec.push(id);
        // Text is released only at complete characters: never a U+FFFD from a held tail.
        out += piece;
    }
    out += dec.flush();
    return out;
}

// Runs f, expecting a dsv4::error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string_view> parts) {
    try {
        f();
        ADD_FAILURE() << "no dsv4::error thrown";
    } catch (const dsv4::error& e) {
        const std::string msg = e.what();
        for (const auto part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg;
    }
}

std::vector<std::int32_t> ids_of(const json& j) { return j.get<std::vector<std::int32_t>>(); }

// ---- golden vectors ------------------------------------------------------------

TEST(tokenizer, loads_golden_file) {
    const tokenizer& tok = golden_tokenizer();
    EXPECT_EQ(tok.vocab_size(), 128815u);
    EXPECT_EQ(tok.added_tokens().size(), 818u);
    // Ids looked up by text, as the README lists them.
    EXPECT_EQ(tok.require_token("<｜begin▁of▁sentence｜>"), 0);
    EXPECT_EQ(tok.require_token("<｜end▁of▁sentence｜>"), 1);
    EXPECT_EQ(tok.require_token("<｜User｜>"), 128803);
    EXPECT_EQ(tok.require_token("<｜Assistant｜>"), 128804);
    EXPECT_EQ(tok.require_token("<|EOT|>"), 128805);
    EXPECT_EQ(tok.token_id("Ġt"), 259);  // model.vocab["Ġt"] in the file
    EXPECT_FALSE(tok.token_id("<think>").has_value());  // a V4-only token: plain text here
    EXPECT_TRUE(tok.is_special(0));
    EXPECT_FALSE(tok.is_special(128803));
    EXPECT_EQ(tok.id_to_token(128803), "<｜User｜>");
}

TEST(tokenizer, every_encode_case) {
    const tokenizer& tok = golden_tokenizer();
    int checked = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "encode") continue;
        const std::string text = c["text"];
        const auto expected = ids_of(c["ids"]);
        EXPECT_EQ(tok.encode(text), expected) << "case " << c["name"];
        EXPECT_EQ(tok.decode(expected), text) << "roundtrip of case " << c["name"];
        EXPECT_EQ(decode_streaming(tok, expected, false), text) << "streaming decode of case " << c["name"];
        ++checked;
    }
    EXPECT_EQ(checked, 230);
}

TEST(tokenizer, every_decode_case) {
    const tokenizer& tok = golden_tokenizer();
    int checked = 0;
    for (const json& c : golden_cases()) {
        if (c["kind"] != "decode") continue;
        const auto ids = ids_of(c["ids"]);
        const bool skip = c["skip_special_tokens"];
        const std::string expected = c["text"];
        if (c["name"] == "decode_unknown_ids_skipped") {
            // HF drops unknown ids silently; this API rejects them unless asked to skip.
            EXPECT_THROW(tok.decode(ids, skip), dsv4::error);
            EXPECT_EQ(tok.decode(ids, skip, dsv4::text::unknown_ids::skip), expected);
            ++checked;
            continue;
        }
        EXPECT_EQ(tok.decode(ids, skip), expected) << "case " << c["name"];
        EXPECT_EQ(decode_streaming(tok, ids, skip), expected) << "streaming decode of case " << c["name"];
        ++checked;
    }
    EXPECT_EQ(checked, 36);
}

TEST(tokenizer, long_text_by_count_and_hash) {
    const tokenizer& tok = golden_tokenizer();
    const json* file_case = nullptr;
    for (const json& c : golden_cases())
        if (c["kind"] == "encode_file") file_case = &c;
    ASSERT_NE(file_case, nullptr);
    const std::string text = read_file(golden_dir + "/" + (*file_case)["file"].get<std::string>());
    ASSERT_EQ(text.size(), (*file_case)["bytes"].get<std::size_t>());
    EXPECT_EQ(sha256_hex(text), (*file_case)["text_sha256"]);
    for (const json& part : (*file_case)["parts"]) {
        const auto ids = tok.encode(std::string_view(text).substr(part["byte_offset"], part["bytes"]));
        EXPECT_EQ(ids.size(), part["ids_count"].get<std::size_t>()) << part["name"];
        EXPECT_EQ(sha256_hex(ids_le_bytes(ids)), part["ids_sha256"]) << part["name"];
    }
    const auto ids = tok.encode(text);
    ASSERT_EQ(ids.size(), 51153u);
    EXPECT_EQ(ids.size(), (*file_case)["ids_count"].get<std::size_t>());
    EXPECT_EQ(sha256_hex(ids_le_bytes(ids)), "ae1f8776f0a9dae3cff1a94be274df68168334c151a99f60cc808452750be522");
    EXPECT_EQ(std::vector<std::int32_t>(ids.begin(), ids.begin() + 64), ids_of((*file_case)["ids_head"]));
    EXPECT_EQ(std::vector<std::int32_t>(ids.end() - 64, ids.end()), ids_of((*file_case)["ids_tail"]));
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_EQ(decode_streaming(tok, ids, false), text);
    // Encoding again (now from the word cache) gives the same ids.
    EXPECT_EQ(tok.encode(text), ids);
}

TEST(tokenizer, concurrent_encodes_agree) {
    const tokenizer tok = tokenizer::from_file(golden_dir + "/tokenizer.json");  // cold cache
    const std::string text = read_file(golden_dir + "/long_text.txt");
    std::vector<std::int32_t> a, b;
    std::thread t1([&] { a = tok.encode(text); });
    std::thread t2([&] { b = tok.encode(text); });
    t1.join();
    t2.join();
    EXPECT_EQ(a.size(), 51153u);
    EXPECT_EQ(a, b);
}

// Text of unicode_cases.json for one code point: a c 1 c c SPACE c x . c NEWLINE.
void append_context(std::string& s, char32_t c) {
    using dsv4::text::utf8::append_code_point;
    s += 'a';
    append_code_point(s, c);
    s += '1';
    append_code_point(s, c);
    append_code_point(s, c);
    s += ' ';
    append_code_point(s, c);
    s += "x.";
    append_code_point(s, c);
    s += '\n';
}

TEST(tokenizer, unicode_16_every_assigned_code_point) {
    const tokenizer& tok = golden_tokenizer();
    const json u = json::parse(read_file(golden_dir + "/unicode_cases.json"));
    int new_chunks = 0;
    for (const json& chunk : u["new"]) {
        EXPECT_EQ(tok.encode(chunk["text"].get<std::string>()), ids_of(chunk["ids"]))
            << "new chunk " << chunk["first"] << ".." << chunk["last"];
        ++new_chunks;
    }
    EXPECT_EQ(new_chunks, 161);
    using dsv4::text::unicode::category_of;
    using dsv4::text::unicode::general_category;
    std::size_t total_ids = 0, total_code_points = 0;
    int all_chunks = 0;
    for (const json& chunk : u["all"]) {
        std::string text;
        std::size_t count = 0;
        for (char32_t c = chunk["first"].get<char32_t>(); c <= chunk["last"].get<char32_t>(); ++c) {
            const general_category g = category_of(c);
            if (g == general_category::Cn || g == general_category::Cs) continue;
            append_context(text, c);
            ++count;
        }
        ASSERT_EQ(count, chunk["code_points"].get<std::size_t>()) << "assigned set of chunk " << chunk["first"];
        const auto ids = tok.encode(text);
        EXPECT_EQ(ids.size(), chunk["n_ids"].get<std::size_t>()) << "chunk " << chunk["first"] << ".." << chunk["last"];
        EXPECT_EQ(fnv1a64_hex(ids), chunk["fnv1a64"]) << "chunk " << chunk["first"] << ".." << chunk["last"];
        total_ids += ids.size();
        total_code_points += count;
        ++all_chunks;
    }
    EXPECT_EQ(all_chunks, 572);
    EXPECT_EQ(total_code_points, 292531u);
    EXPECT_EQ(total_ids, u["summary"]["all_ids"].get<std::size_t>());
}

TEST(tokenizer, long_unsplit_runs) {
    // Pre-tokens of 200 KB: BPE must stay O(n log n) and PCRE2's JIT stack must hold.
    const tokenizer& tok = golden_tokenizer();
    std::string cjk;
    for (int i = 0; i < 50000; ++i) cjk += "中文";
    for (const std::string& s : {std::string(200000, 'a'), std::string(200000, ' '), std::string(200000, '7'),
                                 std::string(100000, '\n'), cjk}) {
        const auto ids = tok.encode(s);
        EXPECT_FALSE(ids.empty());
        EXPECT_EQ(tok.decode(ids), s);
    }
    EXPECT_EQ(tok.encode(std::string(200000, 'a')).size(), 25000u);  // "aaaaaaaa" is one token
}

// ---- Unicode 16.0 tables and the pattern translation ----------------------------

TEST(tokenizer_unicode, tables_are_unicode_16) {
    using dsv4::text::unicode::category_of;
    using gc = dsv4::text::unicode::general_category;
    EXPECT_EQ(category_of(U'A'), gc::Lu);
    EXPECT_EQ(category_of(U'½'), gc::No);
    EXPECT_EQ(category_of(0x1FA77), gc::So);  // 🩷, new in Unicode 15.0
    EXPECT_EQ(category_of(0x31350), gc::Lo);  // CJK Extension H (15.0)
    EXPECT_EQ(category_of(0x2EBF0), gc::Lo);  // CJK Extension I (15.1)
    EXPECT_EQ(category_of(0x10D40), gc::Nd);  // Garay digit zero (16.0)
    EXPECT_EQ(category_of(0x1FAEA), gc::Cn);  // assigned only in Unicode 17.0
    EXPECT_EQ(category_of(0x180E), gc::Cf);
    EXPECT_EQ(category_of(0xE000), gc::Co);
    EXPECT_EQ(category_of(0x10FFFF), gc::Cn);
}

TEST(tokenizer_unicode, pattern_translation) {
    using dsv4::text::split_regex;
    std::size_t s = 0, e = 0;
    const split_regex ws("\\s+", "test");
    EXPECT_FALSE(ws.find("\u180E", 0, s, e));  // Oniguruma's \s excludes U+180E; PCRE2's UCP \s does not
    ASSERT_TRUE(ws.find("a\u3000\u2028b", 0, s, e));
    EXPECT_EQ(s, 1u);
    EXPECT_EQ(e, 7u);
    const split_regex letters("[\\p{L}\\p{M}]+", "test");
    ASSERT_TRUE(letters.find("1\U00031350\U00031351!", 0, s, e));  // Unicode 15 ideographs are letters
    EXPECT_EQ(s, 1u);
    EXPECT_EQ(e, 9u);
    const split_regex not_number("[^\\p{N}]+|\\P{N}", "test");
    ASSERT_TRUE(not_number.find("\U00010D40x", 0, s, e));  // a Garay digit is a number
    EXPECT_EQ(s, 4u);
    const split_regex literal("\\u00e9\\x{4E2D}", "test");
    EXPECT_TRUE(literal.find("x\u00e9\u4e2d", 0, s, e));
    EXPECT_EQ(s, 1u);
    for (const char* bad : {"^a", "a$", "(?i)a", "\\bword", "[[:alpha:]]", "[a&&b]", "\\p{Greek}", "(a)\\1"})
        expect_error([&] { split_regex r(bad, "where.Regex"); }, {"where.Regex"});
}

// ---- streaming decode ------------------------------------------------------------

TEST(incremental_decoder, holds_incomplete_characters) {
    const tokenizer& tok = golden_tokenizer();
    const auto ids = tok.encode("é😀");
    ASSERT_GE(ids.size(), 2u);
    incremental_decoder dec(tok);
    std::string out;
    for (const std::int32_t id : ids) {
        const std::string piece = dec.push(id);
        EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);  // no early U+FFFD
        out += piece;
    }
    out += dec.flush();
    EXPECT_EQ(out, "é😀");
    EXPECT_EQ(dec.pending_bytes(), 0u);
    // A truncated tail becomes U+FFFD only at flush, as whole decode does.
    incremental_decoder partial(tok);
    const std::int32_t f0 = tok.require_token("ð");  // byte 0xF0 in the byte-level alphabet
    EXPECT_EQ(partial.push(f0), "");
    EXPECT_EQ(partial.pending_bytes(), 1u);
    EXPECT_EQ(partial.flush(), "\xEF\xBF\xBD");
}

// ---- errors ------------------------------------------------------------------------

// The golden tokenizer.json with one JSON pointer replaced.
std::string patched(const std::string& pointer, const json& value) {
    json j = json::parse(golden_tokenizer_json());
    j[json::json_pointer(pointer)] = value;
    return j.dump();
}

TEST(tokenizer_errors, invalid_utf8_names_offset) {
    const tokenizer& tok = golden_tokenizer();
    expect_error([&] { tok.encode(std::string("abc\xC3(def")); }, {"UTF-8", "byte offset 3"});
    expect_error([&] { tok.encode(std::string("hello world \xED\xA0\x80")); }, {"byte offset 12"});
    expect_error([&] { tok.encode(std::string("\xE2\x82")); }, {"byte offset 0"});
    // Lossy option: each maximal invalid subsequence becomes U+FFFD, then encoded.
    EXPECT_EQ(tok.encode(std::string("abc\xC3(def"), dsv4::text::invalid_utf8::replace),
              tok.encode("abc\xEF\xBF\xBD(def"));
}

TEST(tokenizer_errors, decode_rejects_unknown_ids) {
    const tokenizer& tok = golden_tokenizer();
    const std::vector<std::int32_t> too_big{67, 129280};
    expect_error([&] { tok.decode(too_big); }, {"129280", "0..128814"});
    const std::vector<std::int32_t> negative{-5};
    expect_error([&] { tok.decode(negative); }, {"id -5"});
    incremental_decoder dec(tok);
    expect_error([&] { dec.push(128815); }, {"128815"});
}

TEST(tokenizer_errors, missing_special_token) {
    const tokenizer& tok = golden_tokenizer();
    EXPECT_FALSE(tok.token_id("<｜DSML｜>").has_value());
    expect_error([&] { tok.require_token("｜DSML｜"); }, {"required token", "｜DSML｜"});
}

TEST(tokenizer_errors, unsupported_components_name_the_field) {
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/1/type", "Whitespace")); },
                 {"pre_tokenizer.pretokenizers[1].type", "Whitespace"});
    expect_error([] { tokenizer::from_json(patched("/model/type", "WordPiece")); }, {"model.type", "WordPiece"});
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/0/behavior", "Removed")); },
                 {"pre_tokenizer.pretokenizers[0].behavior", "Removed"});
    expect_error([] { tokenizer::from_json(patched("/normalizer", json{{"type", "NFC"}})); },
                 {"normalizer.type", "NFC"});
    expect_error([] { tokenizer::from_json(patched("/decoder/type", "Metaspace")); }, {"decoder.type", "Metaspace"});
    expect_error([] { tokenizer::from_json(patched("/model/byte_fallback", true)); }, {"model.byte_fallback"});
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/3/use_regex", true)); },
                 {"pretokenizers[3].use_regex"});
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/3/add_prefix_space", true)); },
                 {"pretokenizers[3].add_prefix_space"});
    expect_error([] { tokenizer::from_json(patched("/added_tokens/5/normalized", nullptr)); },
                 {"added_tokens[5].normalized"});
    // A regex construct whose meaning differs between Oniguruma and PCRE2.
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/0/pattern/Regex", "\\w+")); },
                 {"pretokenizers[0].pattern.Regex", "\\w"});
    expect_error([] { tokenizer::from_json(patched("/pre_tokenizer/pretokenizers/0/pattern/Regex", "\\p{Han}+")); },
                 {"\\p{Han}"});
    expect_error([] { tokenizer::from_json("{not json"); }, {"tokenizer.json"});
    expect_error([] { tokenizer::from_file(golden_dir + "/no-such-file.json"); }, {"no-such-file.json"});
}

TEST(tokenizer_errors, malformed_vocab_and_merges_name_the_entry) {
    expect_error([] { tokenizer::from_json(patched("/model/vocab/Ġt", "x")); }, {"model.vocab[\"Ġt\"]", "integer"});
    expect_error([] { tokenizer::from_json(patched("/model/vocab/Ġt", -3)); }, {"model.vocab[\"Ġt\"]"});
    expect_error([] { tokenizer::from_json(patched("/model/merges/0", "Ġt")); }, {"model.merges[0]", "left right"});
    expect_error([] { tokenizer::from_json(patched("/model/merges/1", "Ġ zzzz")); }, {"model.merges[1]", "not in model.vocab"});
    expect_error([] { tokenizer::from_json(patched("/model/vocab", json::array())); }, {"model.vocab must be an object"});
}

// Found while writing the tokenizer.json fuzz target: the decode tables are indexed by id, so
// one huge id (2e9) allocated tens of gigabytes (std::bad_alloc, not a dsv4::error).
TEST(tokenizer_errors, huge_ids_are_rejected_before_allocating) {
    expect_error([] { tokenizer::from_json(patched("/model/vocab/Ġt", 2000000000)); },
                 {"model.vocab[\"Ġt\"] = 2000000000", "below 16777216"});
    expect_error([] { tokenizer::from_json(patched("/added_tokens/5/id", 16777216)); },
                 {"has id 16777216", "below 16777216"});
    // Holes below the limit are fine: one added token moved to the last allowed id.
    const json moved = json::parse(golden_tokenizer_json())["added_tokens"][5];
    const tokenizer tok = tokenizer::from_json(patched("/added_tokens/5/id", 16777215));
    EXPECT_EQ(tok.vocab_size(), 16777216u);
    EXPECT_EQ(tok.id_to_token(16777215), moved["content"].get<std::string>());
    EXPECT_EQ(tok.decode(std::vector<std::int32_t>{16777215}), moved["content"].get<std::string>());
}

// Found while fuzzing tokenizer.json: unsupported values were quoted with dump(), which
// recursed through a deeply nested value (stack overflow); containers are now named by type.
TEST(tokenizer_errors, deeply_nested_unsupported_values_are_named_not_printed) {
    const std::string nested = std::string(200000, '[') + std::string(200000, ']');
    auto with = [&](const std::string& from, const std::string& to) {
        std::string text = golden_tokenizer_json();
        const std::size_t at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return text.replace(at, from.size(), to);
    };
    expect_error([&] { tokenizer::from_json(with("\"truncation\": null", "\"truncation\": " + nested)); },
                 {"(top level).truncation = a JSON array is not supported"});
    expect_error([&] { tokenizer::from_json(with("\"behavior\": \"Isolated\"", "\"behavior\": " + nested)); },
                 {"pretokenizers[0].behavior = a JSON array is not supported"});
    expect_error([&] { tokenizer::from_json(with("\"dropout\": null", "\"dropout\": {\"p\": 0.1}")); },
                 {"model.dropout = a JSON object is not supported"});
    expect_error([] { tokenizer::from_json(patched("/model/dropout", 0.25)); }, {"model.dropout = 0.25 is not supported"});
}

TEST(tokenizer, merges_as_pairs_read_like_strings) {
    // Newer tokenizer.json files write merges as [left, right]; same ranks, same ids.
    json j = json::parse(golden_tokenizer_json());
    json pairs = json::array();
    for (const json& m : j["model"]["merges"]) {
        const std::string s = m;
        const auto sp = s.find(' ');
        pairs.push_back(json::array({s.substr(0, sp), s.substr(sp + 1)}));
    }
    j["model"]["merges"] = std::move(pairs);
    const tokenizer tok = tokenizer::from_json(j.dump());
    const std::string text = read_file(golden_dir + "/long_text.txt");
    EXPECT_EQ(tok.encode(text), golden_tokenizer().encode(text));
}

TEST(tokenizer, v4_style_added_tokens_drop_in) {
    // V4 adds tokens such as <think> and ｜DSML｜ (no angle brackets). Appended to the V3
    // file they must be cut out wherever they occur, with ids read from the file.
    json j = json::parse(golden_tokenizer_json());
    j["added_tokens"].push_back(json{{"id", 128815}, {"content", "<think>"}, {"single_word", false}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", false}, {"special", false}});
    j["added_tokens"].push_back(json{{"id", 128816}, {"content", "</think>"}, {"single_word", false}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", false}, {"special", false}});
    j["added_tokens"].push_back(json{{"id", 128817}, {"content", "｜DSML｜"}, {"single_word", false}, {"lstrip", false},
                                     {"rstrip", false}, {"normalized", true}, {"special", false}});
    const tokenizer v4 = tokenizer::from_json(j.dump());
    const tokenizer& v3 = golden_tokenizer();
    EXPECT_EQ(v4.vocab_size(), 128818u);
    EXPECT_EQ(v4.require_token("｜DSML｜"), 128817);
    const auto cat = [](std::initializer_list<std::vector<std::int32_t>> parts) {
        std::vector<std::int32_t> out;
        for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
        return out;
    };
    EXPECT_EQ(v4.encode("<think>hmm</think>Hi"), cat({{128815}, v3.encode("hmm"), {128816}, v3.encode("Hi")}));
    EXPECT_EQ(v4.encode("<｜DSML｜invoke name=\"f\">"),
              cat({v3.encode("<"), {128817}, v3.encode("invoke name=\"f\">")}));
    EXPECT_EQ(v4.encode("<｜User｜>｜DSML｜"), (std::vector<std::int32_t>{128803, 128817}));
    const std::string text = "a<think>b｜DSML｜c</think>";
    EXPECT_EQ(v4.decode(v4.encode(text)), text);
}

// ---- added-token rules on a small synthetic tokenizer ----------------------------

// A byte-level tokenizer with the 256 byte symbols, no merges, the golden
// pre-tokenizer, and the given added tokens.
tokenizer small_tokenizer(const json& added_tokens) {
    const json golden = json::parse(golden_tokenizer_json());
    json vocab = json::object();
    // Reuse the golden model's ids for the 256 byte symbols.
    for (const auto& [k, v] : golden["model"]["vocab"].items()) {
        std::size_t i = 0, chars = 0;
        while (i < k.size()) {
            dsv4::text::utf8::next_code_point(k, i);
            ++chars;
        }
        if (chars == 1 && v.get<int>() >= 3) vocab[k] = v;
    }
    json j = golden;
    j["model"]["vocab"] = vocab;
    j["model"]["merges"] = json::array();
    j["added_tokens"] = added_tokens;
    return tokenizer::from_json(j.dump());
}

json added(std::string content, int id, bool normalized, bool lstrip = false, bool rstrip = false,
           bool single_word = false) {
    return json{{"id", id},           {"content", content},   {"single_word", single_word}, {"lstrip", lstrip},
                {"rstrip", rstrip},   {"normalized", normalized}, {"special", !normalized}};
}

TEST(tokenizer_added, two_pass_non_normalized_first) {
    // "ab" (normalized) starts first, but "bc" (not normalized) is cut out in pass 1.
    const tokenizer tok = small_tokenizer(json::array({added("ab", 200000, true), added("bc", 200001, false)}));
    const std::int32_t a = tok.require_token("a");
    EXPECT_EQ(tok.encode("abc"), (std::vector<std::int32_t>{a, 200001}));
    EXPECT_EQ(tok.encode("abx"), (std::vector<std::int32_t>{200000, tok.require_token("x")}));
    EXPECT_EQ(tok.decode(tok.encode("abcab")), "abcab");
}

TEST(tokenizer_added, leftmost_longest) {
    const tokenizer tok = small_tokenizer(json::array({added("<x>", 200000, false), added("<x>y", 200001, false)}));
    EXPECT_EQ(tok.encode("<x>y<x>"), (std::vector<std::int32_t>{200001, 200000}));
}

TEST(tokenizer_added, strip_and_single_word_flags) {
    const tokenizer tok = small_tokenizer(json::array({added("[L]", 200000, false, true, false),
                                                       added("[R]", 200001, false, false, true),
                                                       added("tok", 200002, false, false, false, true)}));
    const std::int32_t a = tok.require_token("a"), b = tok.require_token("b");
    // lstrip swallows the whitespace before, rstrip the whitespace after.
    EXPECT_EQ(tok.encode("a  [L]b"), (std::vector<std::int32_t>{a, 200000, b}));
    EXPECT_EQ(tok.encode("a[R] \u3000b"), (std::vector<std::int32_t>{a, 200001, b}));
    // single_word: only when not inside a word.
    EXPECT_EQ(tok.encode("tok"), (std::vector<std::int32_t>{200002}));
    EXPECT_EQ(tok.encode("a tok."), (std::vector<std::int32_t>{a, tok.require_token("Ġ"), 200002, tok.require_token(".")}));
    const auto inside = tok.encode("atok");
    EXPECT_EQ(std::count(inside.begin(), inside.end(), 200002), 0);
}

// ---- CLI ------------------------------------------------------------------------------

struct run_result {
    int status;
    std::string out;
};

run_result run(const std::string& command) {
    run_result r{-1, {}};
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

TEST(dsv4_tokenize_cli, encodes_and_decodes) {
    const std::string exe = DSV4_BINARY_DIR "/examples/dsv4-tokenize";
    if (!std::filesystem::exists(exe)) GTEST_SKIP() << "dsv4-tokenize not built";
    const auto dir = std::filesystem::temp_directory_path() / ("dsv4-tokenize-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string in = (dir / "in.txt").string(), ids_file = (dir / "ids.json").string();
    const std::string text = "Hello! 毕老师！1 + 1 = 2 <｜User｜>x\n";
    std::ofstream(in, std::ios::binary) << text;
    const std::string tok_arg = " --tokenizer '" + golden_dir + "/tokenizer.json'";

    const run_result enc = run("'" + exe + "'" + tok_arg + " < '" + in + "'");
    ASSERT_EQ(enc.status, 0);
    const json ids = json::parse(enc.out);
    EXPECT_EQ(ids.get<std::vector<std::int32_t>>(), golden_tokenizer().encode(text));

    std::ofstream(ids_file) << enc.out;
    const run_result dec = run("'" + exe + "'" + tok_arg + " --decode < '" + ids_file + "'");
    ASSERT_EQ(dec.status, 0);
    EXPECT_EQ(dec.out, text);

    // Bad input: exit status 2 (invalid UTF-8; ids that are not a JSON array of ids).
    std::ofstream(in, std::ios::binary) << "ok\xC3(";
    EXPECT_EQ(run("'" + exe + "'" + tok_arg + " < '" + in + "' 2>/dev/null").status, 2);
    std::ofstream(ids_file) << "[1, \"x\"]";
    EXPECT_EQ(run("'" + exe + "'" + tok_arg + " --decode < '" + ids_file + "' 2>/dev/null").status, 2);
    std::ofstream(ids_file) << "[999999999]";
    EXPECT_EQ(run("'" + exe + "'" + tok_arg + " --decode < '" + ids_file + "' 2>/dev/null").status, 2);
    EXPECT_EQ(run("'" + exe + "' --tokenizer '" + (dir / "missing.json").string() + "' < '" + in + "' 2>/dev/null").status, 2);
    std::filesystem::remove_all(dir);
}

}  // namespace
