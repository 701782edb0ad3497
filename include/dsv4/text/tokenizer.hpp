// dsv4/text/tokenizer.hpp — DeepSeek's byte-level BPE tokenizer from a Hugging Face tokenizer.json.
//
// What: encode text to ids and decode ids to text, byte-exact with Hugging Face
// `tokenizers` (encode with add_special_tokens=false; decode with its ByteLevel
// decoder). Everything is read from tokenizer.json — added tokens and their flags,
// the split patterns, the vocabulary and merges; no id or pattern is hard-coded, so
// the V4 file drops in. Options this loader does not implement are rejected with a
// dsv4::error naming the JSON field, never silently tokenized differently.
//
// Pipeline (as in HF): (1) added tokens whose `normalized` is false are cut out of
// the raw text, leftmost-longest; (2) the normalizer runs on the rest (only the
// identity is supported); (3) `normalized` added tokens are cut out of each
// remaining piece; (4) each remaining piece goes through the pre-tokenizer: every
// Split step (PCRE2, see tokenizer_regex.hpp) splits every piece further, then the
// ByteLevel step maps bytes to symbols; (5) BPE merges by rank, with a shared
// word cache. Decoding joins all token bytes first and converts them once, lossily.
//
// Invalid UTF-8 input: HF never sees it (its API takes strings). Here encode
// throws dsv4::error with the byte offset, unless invalid_utf8::replace is passed,
// which first replaces each maximal invalid subsequence with U+FFFD.
//
// Thread safety: a tokenizer is immutable apart from its word cache, which is
// sharded and mutex-protected; copies share the loaded data (cheap to copy).
#pragma once

#include <dsv4/error.hpp>
#include <dsv4/text/tokenizer_json.hpp>
#include <dsv4/text/tokenizer_regex.hpp>
#include <dsv4/text/unicode_tables.hpp>
#include <dsv4/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsv4::text {

// What encode does with input that is not valid UTF-8.
enum class invalid_utf8 { error, replace };
// What decode does with ids that name no token.
enum class unknown_ids { error, skip };

namespace detail {

// The GPT-2 byte alphabet: byte -> code point of its printable stand-in.
inline std::array<char32_t, 256> byte_to_char_table() {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        t[b] = printable ? char32_t(b) : next++;
    }
    return t;
}

// Appends the bytes of a byte-level token string and returns true; if a character
// is outside the alphabet, appends nothing and returns false (then HF's decoder uses
// the token's own UTF-8 bytes). `s` must be valid UTF-8.
inline bool append_byte_level_bytes(std::string_view s, const std::array<int, 0x144>& char_to_byte, std::string& out) {
    const std::size_t mark = out.size();
    std::size_t i = 0;
    while (i < s.size()) {
        const char32_t cp = utf8::next_code_point(s, i);
        if (cp >= char_to_byte.size() || char_to_byte[cp] < 0) {
            out.resize(mark);
            return false;
        }
        out += static_cast<char>(char_to_byte[cp]);
    }
    return true;
}

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Open-addressing map (left id, right id) -> (rank, merged id); the BPE inner loop.
class merge_table {
public:
    struct value {
        std::int32_t rank;
        std::int32_t id;
    };
    void reserve(std::size_t n) {
        std::size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        slots_.assign(cap, slot{empty_key, {0, 0}});
        mask_ = cap - 1;
    }
    // Returns false if the pair is already present (first rank wins, as in HF).
    bool insert(std::int32_t left, std::int32_t right, value v) {
        const std::uint64_t key = make_key(left, right);
        for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == empty_key) {
                slots_[i] = {key, v};
                return true;
            }
            if (slots_[i].key == key) return false;
        }
    }
    const value* find(std::int32_t left, std::int32_t right) const {
        const std::uint64_t key = make_key(left, right);
        for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return &slots_[i].v;
            if (slots_[i].key == empty_key) return nullptr;
        }
    }

private:
    struct slot {
        std::uint64_t key;
        value v;
    };
    static constexpr std::uint64_t empty_key = ~std::uint64_t{0};
    static std::uint64_t make_key(std::int32_t l, std::int32_t r) {
        return (std::uint64_t(std::uint32_t(l)) << 32) | std::uint32_t(r);
    }
    std::size_t hash(std::uint64_t k) const { return std::size_t((k * 0x9E3779B97F4A7C15ULL) >> 20) & mask_; }
    std::vector<slot> slots_;
    std::size_t mask_ = 0;
};

// Byte trie over added-token contents for leftmost-longest matching.
class token_trie {
public:
    bool empty() const { return tokens_.empty(); }
    void add(std::string_view content, std::size_t token_index) {
        if (nodes_.empty()) nodes_.push_back(-1);
        first_byte_[static_cast<unsigned char>(content[0])] = true;
        std::int32_t node = 0;
        for (const char c : content) {
            const std::uint64_t key = edge_key(node, c);
            auto it = edges_.find(key);
            if (it == edges_.end()) {
                it = edges_.emplace(key, std::int32_t(nodes_.size())).first;
                nodes_.push_back(-1);
            }
            node = it->second;
        }
        if (nodes_[node] < 0) nodes_[node] = std::int32_t(token_index);
        tokens_.push_back(token_index);
    }
    // Longest token starting at s[pos]: sets len and returns its index, or -1.
    std::int32_t longest_at(std::string_view s, std::size_t pos, std::size_t& len) const {
        if (!first_byte_[static_cast<unsigned char>(s[pos])]) return -1;
        std::int32_t node = 0, best = -1;
        for (std::size_t i = pos; i < s.size(); ++i) {
            const auto it = edges_.find(edge_key(node, s[i]));
            if (it == edges_.end()) break;
            node = it->second;
            if (nodes_[node] >= 0) {
                best = nodes_[node];
                len = i + 1 - pos;
            }
        }
        return best;
    }
    bool may_start(char c) const { return first_byte_[static_cast<unsigned char>(c)]; }

private:
    static std::uint64_t edge_key(std::int32_t node, char c) {
        return (std::uint64_t(std::uint32_t(node)) << 8) | static_cast<unsigned char>(c);
    }
    std::vector<std::int32_t> nodes_;  // token index ending at the node, or -1
    std::unordered_map<std::uint64_t, std::int32_t> edges_;
    std::array<bool, 256> first_byte_{};
    std::vector<std::size_t> tokens_;
};

}  // namespace detail

class tokenizer {
public:
    // One entry of tokenizer.json's added_tokens.
    struct added_token {
        std::string content;
        std::int32_t id = 0;
        bool special = false;
        bool single_word = false;
        bool lstrip = false;
        bool rstrip = false;
        bool normalized = false;
    };

    static tokenizer from_file(const std::string& path) {
        std::ifstream f(path, std::ios::binary);
        if (!f) fail("tokenizer: cannot open ", path);
        std::ostringstream ss;
        ss << f.rdbuf();
        if (!f && !f.eof()) fail("tokenizer: cannot read ", path);
        try {
            return from_json(ss.str());
        } catch (const error& e) {
            fail(path, ": ", e.what());
        }
    }

    static tokenizer from_json(std::string_view json_text) {
        tokenizer t;
        auto d = std::make_shared<data>();
        try {
            detail::tokenizer_json_reader reader;
            nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &reader);
            load(*d, reader);
        } catch (const nlohmann::json::exception& e) {
            fail("tokenizer.json: ", e.what());
        }
        t.d_ = std::move(d);
        return t;
    }

    // Ids of `text` (HF encode(text, add_special_tokens=false).ids).
    std::vector<std::int32_t> encode(std::string_view text, invalid_utf8 policy = invalid_utf8::error) const {
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3 + 4);
        encode_into(text, ids, policy);
        return ids;
    }

    // Appends the ids of `text` to `ids` (lets callers reuse one buffer).
    void encode_into(std::string_view text, std::vector<std::int32_t>& ids,
                     invalid_utf8 policy = invalid_utf8::error) const {
        std::string repaired;
        const std::size_t bad = utf8::first_invalid(text);
        if (bad != std::string_view::npos) {
            if (policy == invalid_utf8::error)
                fail("tokenizer.encode: input is not valid UTF-8 at byte offset ", bad,
                     " (pass invalid_utf8::replace to substitute U+FFFD)");
            repaired = utf8::lossy(text);
            text = repaired;
        }
        if (text.empty()) return;
        const data& d = *d_;
        // Pass 1: non-normalized added tokens on the raw text; pass 2: normalized
        // ones on each remaining piece (the normalizer is the identity).
        split_added(d.raw_trie, text, ids, [&](std::string_view piece) {
            split_added(d.normalized_trie, piece, ids, [&](std::string_view rest) { pre_tokenize(0, rest, ids); });
        });
    }

    // Text of `ids` (HF decode). Ids naming no token throw unless unknown_ids::skip
    // (HF's behaviour) is passed.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false,
                       unknown_ids unknown = unknown_ids::error) const {
        std::string bytes;
        for (const std::int32_t id : ids) append_token_bytes(id, bytes, skip_special_tokens, unknown);
        return utf8::lossy(bytes);
    }

    // Appends the raw bytes decoding contributes for one id (before UTF-8 repair).
    void append_token_bytes(std::int32_t id, std::string& bytes, bool skip_special_tokens = false,
                            unknown_ids unknown = unknown_ids::error) const {
        const data& d = *d_;
        if (id < 0 || std::size_t(id) >= d.id_flags.size() || !(d.id_flags[id] & flag_exists)) {
            if (unknown == unknown_ids::skip) return;
            fail("tokenizer.decode: id ", id, " names no token (valid ids are 0..", d.id_flags.size() - 1, ")");
        }
        if (skip_special_tokens && (d.id_flags[id] & flag_special)) return;
        bytes.append(d.id_bytes, d.id_byte_offset[id], d.id_byte_offset[id + 1] - d.id_byte_offset[id]);
    }

    // Id of a token given as text: an added token's content (e.g. "<｜User｜>") or a
    // vocabulary key in the byte-level alphabet (e.g. "Ġworld"). Added tokens first, as HF.
    std::optional<std::int32_t> token_id(std::string_view token) const {
        const data& d = *d_;
        if (auto it = d.added_by_content.find(token); it != d.added_by_content.end()) return it->second;
        return d.vocab.find(token);
    }

    std::int32_t require_token(std::string_view token) const {
        if (auto id = token_id(token)) return *id;
        fail("tokenizer: required token \"", token, "\" is not in this tokenizer.json (neither an added token "
             "nor a vocabulary entry); is it the tokenizer of the right model?");
    }

    // The token string of an id (added-token content, else vocabulary key), or nullopt.
    std::optional<std::string_view> id_to_token(std::int32_t id) const {
        const data& d = *d_;
        if (id < 0 || std::size_t(id) >= d.id_flags.size() || !(d.id_flags[id] & flag_exists)) return std::nullopt;
        return id_token(d, id);
    }

    // True for ids of added tokens with special: true (dropped by skip_special_tokens).
    bool is_special(std::int32_t id) const {
        const data& d = *d_;
        return id >= 0 && std::size_t(id) < d.id_flags.size() && (d.id_flags[id] & flag_special);
    }

    // One past the largest id (ids below it without a token are rejected by decode).
    std::size_t vocab_size() const { return d_->id_flags.size(); }

    const std::vector<added_token>& added_tokens() const { return d_->added; }

private:
    tokenizer() = default;  // only the factories make one (never an empty tokenizer)

    static constexpr std::uint8_t flag_exists = 1, flag_special = 2;
    static constexpr std::size_t cache_shards = 16;
    static constexpr std::size_t cache_capacity_per_shard = 16384;
    static constexpr std::size_t cache_max_word_bytes = 256;

    struct cache_shard {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<std::int32_t>, detail::string_hash, std::equal_to<>> words;
    };

    struct data {
        // Added tokens.
        std::vector<added_token> added;
        std::unordered_map<std::string, std::int32_t, detail::string_hash, std::equal_to<>> added_by_content;
        detail::token_trie raw_trie, normalized_trie;
        // Pre-tokenizer: Split steps then ByteLevel.
        std::vector<split_regex> splits;
        // Model.
        detail::string_table vocab;
        std::array<std::int32_t, 256> byte_id{};
        detail::merge_table merges;
        bool ignore_merges = false;
        // Decoding: per id its bytes, flags and token string.
        std::string id_bytes;
        std::vector<std::uint32_t> id_byte_offset;
        std::vector<std::uint8_t> id_flags;
        std::string id_token_text;  // token string of each id, concatenated
        std::vector<std::uint32_t> id_token_offset;
        // Word cache (the only mutable state).
        mutable std::array<cache_shard, cache_shards> cache;
    };

    // ---- loading -------------------------------------------------------------

    using json = nlohmann::json;

    static const json& member(const json& obj, const char* key, const std::string& where) {
        if (!obj.is_object()) fail("tokenizer.json: ", where, " must be an object");
        const auto it = obj.find(key);
        if (it == obj.end()) fail("tokenizer.json: ", where, ".", key, " is missing");
        return *it;
    }
    static bool flag(const json& obj, const char* key, bool dflt) {
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? dflt : it->get<bool>();
    }
    static std::string type_of(const json& obj, const std::string& where) {
        const json& t = member(obj, "type", where);
        if (!t.is_string()) fail("tokenizer.json: ", where, ".type must be a string");
        return t.get<std::string>();
    }
    static void require_null(const json& obj, const char* key, const std::string& where, const char* why) {
        const auto it = obj.find(key);
        if (it != obj.end() && !it->is_null())
            fail("tokenizer.json: ", where, ".", key, " = ", json_in_message(*it), " is not supported (", why, ")");
    }

    static std::string_view id_token(const data& d, std::int32_t id) {
        return std::string_view(d.id_token_text).substr(d.id_token_offset[id], d.id_token_offset[id + 1] - d.id_token_offset[id]);
    }

    static void load(data& d, detail::tokenizer_json_reader& r) {
        const json& j = r.root;
        if (!j.is_object()) fail("tokenizer.json: top level must be an object");
        require_null(j, "truncation", "(top level)", "truncation would drop ids");
        require_null(j, "padding", "(top level)", "padding would add ids");
        if (const auto it = j.find("normalizer"); it != j.end()) check_normalizer(*it, "normalizer");
        load_model(d, member(j, "model", "(top level)"), r);
        load_added_tokens(d, j);
        load_pre_tokenizer(d, member(j, "pre_tokenizer", "(top level)"));
        const json& dec = member(j, "decoder", "(top level)");
        if (dec.is_null() || type_of(dec, "decoder") != "ByteLevel")
            fail("tokenizer.json: decoder.type = ", dec.is_null() ? std::string("null") : type_of(dec, "decoder"),
                 " is not supported (only ByteLevel)");
        // post_processor only matters for add_special_tokens=true, which encode does not do.
        build_id_tables(d);
    }

    static void check_normalizer(const json& n, const std::string& where) {
        if (n.is_null()) return;
        const std::string type = type_of(n, where);
        if (type == "Sequence") {
            const json& list = member(n, "normalizers", where);
            if (!list.is_array()) fail("tokenizer.json: ", where, ".normalizers must be an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                check_normalizer(list[i], where + ".normalizers[" + std::to_string(i) + "]");
            return;
        }
        fail("tokenizer.json: ", where, ".type = ", type, " is not supported (only the identity: null or an empty Sequence)");
    }

    static void load_model(data& d, const json& m, detail::tokenizer_json_reader& r) {
        const std::string type = type_of(m, "model");
        if (type != "BPE") fail("tokenizer.json: model.type = ", type, " is not supported (only BPE)");
        require_null(m, "unk_token", "model", "every byte must be in the vocabulary");
        require_null(m, "continuing_subword_prefix", "model", "not implemented");
        require_null(m, "end_of_word_suffix", "model", "not implemented");
        if (const auto it = m.find("dropout"); it != m.end() && !it->is_null() && (!it->is_number() || it->get<double>() != 0.0))
            fail("tokenizer.json: model.dropout = ", json_in_message(*it), " is not supported (not deterministic)");
        if (flag(m, "byte_fallback", false)) fail("tokenizer.json: model.byte_fallback = true is not supported");
        if (flag(m, "fuse_unk", false)) fail("tokenizer.json: model.fuse_unk = true is not supported");
        d.ignore_merges = flag(m, "ignore_merges", false);

        // vocab and merges were streamed by the reader; in the DOM they are absent.
        if (!r.have_vocab) {
            member(m, "vocab", "model");
            fail("tokenizer.json: model.vocab must be an object");
        }
        d.vocab.build(r.vocab);
        r.vocab = {};
        const auto to_char = detail::byte_to_char_table();
        for (int b = 0; b < 256; ++b) {
            std::string s;
            utf8::append_code_point(s, to_char[b]);
            const auto id = d.vocab.find(s);
            if (!id)
                fail("tokenizer.json: model.vocab lacks the byte-level symbol of byte ", b,
                     " (needed because unk_token/byte_fallback are not supported)");
            d.byte_id[b] = *id;
        }

        if (!r.have_merges) {
            member(m, "merges", "model");
            fail("tokenizer.json: model.merges must be an array");
        }
        d.merges.reserve(r.merges.size());
        std::string joined;
        for (std::size_t rank = 0; rank < r.merges.size(); ++rank) {
            const auto& [left, right] = r.merges[rank];
            joined.assign(left);
            joined.append(right);
            const auto l = d.vocab.find(left), rt = d.vocab.find(right), merged = d.vocab.find(joined);
            if (!l || !rt || !merged)
                fail("tokenizer.json: model.merges[", rank, "] (", left, " ", right, ") uses or makes a token not in model.vocab");
            d.merges.insert(*l, *rt, {std::int32_t(rank), *merged});
        }
        r.merges = {};
    }

    static void load_added_tokens(data& d, const json& j) {
        const auto it = j.find("added_tokens");
        if (it == j.end() || it->is_null()) return;
        if (!it->is_array()) fail("tokenizer.json: added_tokens must be an array");
        for (std::size_t i = 0; i < it->size(); ++i) {
            const json& e = (*it)[i];
            const std::string where = "added_tokens[" + std::to_string(i) + "]";
            added_token t;
            const json& content = member(e, "content", where);
            const json& id = member(e, "id", where);
            if (!content.is_string() || content.get_ref<const std::string&>().empty())
                fail("tokenizer.json: ", where, ".content must be a non-empty string");
            if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX)
                fail("tokenizer.json: ", where, ".id must be a non-negative integer");
            t.content = content.get<std::string>();
            if (utf8::first_invalid(t.content) != std::string_view::npos)
                fail("tokenizer.json: ", where, ".content is not valid UTF-8");
            t.id = id.get<std::int32_t>();
            t.special = flag(e, "special", false);
            t.single_word = flag(e, "single_word", false);
            t.lstrip = flag(e, "lstrip", false);
            t.rstrip = flag(e, "rstrip", false);
            // HF's default for a missing `normalized` is not settled across versions: require it.
            const json& normalized = member(e, "normalized", where);
            if (!normalized.is_boolean()) fail("tokenizer.json: ", where, ".normalized must be true or false");
            t.normalized = normalized.get<bool>();
            // HF keeps the first token of a given content.
            if (!d.added_by_content.emplace(t.content, t.id).second) continue;
            (t.normalized ? d.normalized_trie : d.raw_trie).add(t.content, d.added.size());
            d.added.push_back(std::move(t));
        }
    }

    static void load_pre_tokenizer(data& d, const json& p) {
        if (p.is_null()) fail("tokenizer.json: pre_tokenizer = null is not supported (a ByteLevel step is required)");
        std::vector<std::pair<const json*, std::string>> steps;
        if (type_of(p, "pre_tokenizer") == "Sequence") {
            const json& list = member(p, "pretokenizers", "pre_tokenizer");
            if (!list.is_array()) fail("tokenizer.json: pre_tokenizer.pretokenizers must be an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                steps.emplace_back(&list[i], "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]");
        } else {
            steps.emplace_back(&p, "pre_tokenizer");
        }
        bool byte_level = false;
        for (const auto& [step, where] : steps) {
            const std::string type = type_of(*step, where);
            if (byte_level)
                fail("tokenizer.json: ", where, ".type = ", type, " after ByteLevel is not supported (ByteLevel must be last)");
            if (type == "Split") {
                const json& behavior = member(*step, "behavior", where);
                if (behavior != "Isolated")
                    fail("tokenizer.json: ", where, ".behavior = ", json_in_message(behavior), " is not supported (only \"Isolated\")");
                if (flag(*step, "invert", false)) fail("tokenizer.json: ", where, ".invert = true is not supported");
                const json& pattern = member(*step, "pattern", where);
                if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
                    d.splits.emplace_back(pattern["Regex"].get<std::string>(), where + ".pattern.Regex");
                } else if (pattern.contains("String") && pattern["String"].is_string()) {
                    // A literal: spell every character as \x{..} so nothing in it is syntax.
                    const std::string& s = pattern["String"].get_ref<const std::string&>();
                    if (s.empty() || utf8::first_invalid(s) != std::string_view::npos)
                        fail("tokenizer.json: ", where, ".pattern.String must be non-empty valid UTF-8");
                    std::string re;
                    char buf[16];
                    for (std::size_t i = 0; i < s.size();) {
                        std::snprintf(buf, sizeof buf, "\\x{%X}", unsigned(utf8::next_code_point(s, i)));
                        re += buf;
                    }
                    d.splits.emplace_back(re, where + ".pattern.String");
                } else {
                    fail("tokenizer.json: ", where, ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
                }
            } else if (type == "ByteLevel") {
                // HF's defaults are add_prefix_space = use_regex = true; neither is implemented.
                if (flag(*step, "add_prefix_space", true))
                    fail("tokenizer.json: ", where, ".add_prefix_space = true (or absent) is not supported");
                if (flag(*step, "use_regex", true))
                    fail("tokenizer.json: ", where, ".use_regex = true is not supported (give the split pattern as a Split step)");
                byte_level = true;  // trim_offsets affects offsets only
            } else {
                fail("tokenizer.json: ", where, ".type = ", type, " is not supported (only Sequence, Split, ByteLevel)");
            }
        }
        if (!byte_level) fail("tokenizer.json: pre_tokenizer has no ByteLevel step (required for byte-level BPE)");
    }

    static void build_id_tables(data& d) {
        // The decode tables are indexed by id, so their size follows the largest id, not the
        // number of tokens: one huge id would allocate tens of gigabytes. Ids are capped at
        // 2^24, 64 times the largest vocabularies in use (~256k); ids may still leave holes.
        constexpr std::size_t id_limit = std::size_t(1) << 24;
        std::size_t n = 0;
        for (std::size_t i = 0; i < d.vocab.size(); ++i) {
            const std::size_t id = std::size_t(d.vocab.value(i));
            if (id >= id_limit)
                fail("tokenizer.json: model.vocab[\"", d.vocab.key(i), "\"] = ", id, " is too large: ids must be below ",
                     id_limit, " (the decode tables are indexed by id)");
            n = std::max(n, id + 1);
        }
        for (const auto& t : d.added) {
            if (std::size_t(t.id) >= id_limit)
                fail("tokenizer.json: added token \"", t.content, "\" has id ", t.id, ", too large: ids must be below ",
                     id_limit, " (the decode tables are indexed by id)");
            n = std::max(n, std::size_t(t.id) + 1);
        }
        // Token string per id: added tokens take precedence over the vocabulary, as in HF.
        std::vector<std::string_view> token(n);
        d.id_flags.assign(n, 0);
        for (std::size_t i = 0; i < d.vocab.size(); ++i) {
            token[d.vocab.value(i)] = d.vocab.key(i);
            d.id_flags[d.vocab.value(i)] = flag_exists;
        }
        for (const auto& t : d.added) {
            token[t.id] = t.content;
            d.id_flags[t.id] = flag_exists;
        }
        // HF skips a token when its *string* is the content of a special added token.
        std::unordered_map<std::string_view, bool> special;
        for (const auto& t : d.added)
            if (t.special) special.emplace(t.content, true);
        std::array<int, 0x144> char_to_byte;
        char_to_byte.fill(-1);
        const auto to_char = detail::byte_to_char_table();
        for (int b = 0; b < 256; ++b) char_to_byte[to_char[b]] = b;
        d.id_byte_offset.assign(n + 1, 0);
        d.id_token_offset.assign(n + 1, 0);
        d.id_bytes.reserve(n * 8);
        d.id_token_text.reserve(n * 10);
        for (std::size_t id = 0; id < n; ++id) {
            d.id_byte_offset[id] = std::uint32_t(d.id_bytes.size());
            d.id_token_offset[id] = std::uint32_t(d.id_token_text.size());
            if (!(d.id_flags[id] & flag_exists)) continue;
            const std::string_view tok = token[id];
            d.id_token_text += tok;
            if (special.count(tok)) d.id_flags[id] |= flag_special;
            if (!detail::append_byte_level_bytes(tok, char_to_byte, d.id_bytes)) d.id_bytes += tok;
        }
        d.id_byte_offset[n] = std::uint32_t(d.id_bytes.size());
        d.id_token_offset[n] = std::uint32_t(d.id_token_text.size());
    }

    // ---- encoding ------------------------------------------------------------

    // Rust regex \w (used by HF for single_word): Alphabetic, marks, Nd, Pc, Join_Control.
    static bool is_word_char(char32_t c) {
        static const code_point_set alpha = unicode::from_table(unicode::alphabetic);
        if (c == 0x200C || c == 0x200D || unicode::in_table_set(alpha, c)) return true;
        using gc = unicode::general_category;
        const gc g = unicode::category_of(c);
        return g == gc::Mn || g == gc::Mc || g == gc::Me || g == gc::Nd || g == gc::Pc;
    }
    static bool is_white_space(char32_t c) {
        for (const auto& r : unicode::white_space)
            if (c >= r.first && c <= r.last) return true;
        return false;
    }
    static char32_t last_code_point(std::string_view s) {
        std::size_t i = s.size() - 1;
        while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
        return utf8::next_code_point(s, i);
    }

    // HF AddedVocabulary::find_matches: cuts the tokens of `trie` out of `text`,
    // appending token ids to `ids` and calling on_text for every stretch between.
    template <class OnText>
    void split_added(const detail::token_trie& trie, std::string_view text, std::vector<std::int32_t>& ids,
                     OnText&& on_text) const {
        if (trie.empty()) {
            on_text(text);
            return;
        }
        const data& d = *d_;
        std::size_t start_offset = 0, pos = 0;
        while (pos < text.size()) {
            if (!trie.may_start(text[pos])) {
                ++pos;
                continue;
            }
            std::size_t len = 0;
            const std::int32_t index = trie.longest_at(text, pos, len);
            if (index < 0) {
                ++pos;
                continue;
            }
            const added_token& tok = d.added[index];
            std::size_t start = pos, stop = pos + len;
            pos = stop;  // matches never overlap, whatever the flags do below
            if (tok.single_word) {
                const bool start_ok = start == 0 || !is_word_char(last_code_point(text.substr(0, start)));
                std::size_t k = stop;
                const bool stop_ok = stop == text.size() || !is_word_char(utf8::next_code_point(text, k));
                if (!start_ok || !stop_ok) continue;
            }
            if (tok.lstrip) {
                std::size_t s = start;
                while (s > 0) {
                    std::size_t b = s - 1;
                    while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
                    std::size_t k = b;
                    if (!is_white_space(utf8::next_code_point(text, k))) break;
                    s = b;
                }
                start = std::max(s, start_offset);
            }
            if (tok.rstrip) {
                while (stop < text.size()) {
                    std::size_t k = stop;
                    if (!is_white_space(utf8::next_code_point(text, k))) break;
                    stop = k;
                }
            }
            if (start_offset < start) on_text(text.substr(start_offset, start - start_offset));
            ids.push_back(tok.id);
            start_offset = stop;
        }
        if (start_offset < text.size()) on_text(text.substr(start_offset));
    }

    // Applies Split step k (and the following ones) to one piece; after the last
    // step the piece is a pre-token and goes to BPE.
    void pre_tokenize(std::size_t k, std::string_view piece, std::vector<std::int32_t>& ids) const {
        const data& d = *d_;
        if (k == d.splits.size()) {
            bpe(piece, ids);
            return;
        }
        const split_regex& re = d.splits[k];
        std::size_t prev = 0, offset = 0, s = 0, e = 0;
        while (offset <= piece.size() && re.find(piece, offset, s, e)) {
            if (s > prev) pre_tokenize(k + 1, piece.substr(prev, s - prev), ids);
            if (e > s) pre_tokenize(k + 1, piece.substr(s, e - s), ids);
            prev = e;
            if (e == s) {  // an empty match splits here; the search moves on one character
                if (e >= piece.size()) break;
                offset = e;
                utf8::next_code_point(piece, offset);
            } else {
                offset = e;
            }
        }
        if (prev < piece.size()) pre_tokenize(k + 1, piece.substr(prev), ids);
    }

    void bpe(std::string_view word, std::vector<std::int32_t>& ids) const {
        const data& d = *d_;
        if (word.size() == 1) {
            ids.push_back(d.byte_id[static_cast<unsigned char>(word[0])]);
            return;
        }
        const bool cacheable = word.size() <= cache_max_word_bytes;
        cache_shard* shard = nullptr;
        if (cacheable) {
            shard = &d.cache[detail::string_hash{}(word) % cache_shards];
            std::lock_guard lock(shard->mutex);
            if (const auto it = shard->words.find(word); it != shard->words.end()) {
                ids.insert(ids.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        const std::size_t first = ids.size();
        merge_word(word, ids);
        if (cacheable) {
            std::lock_guard lock(shard->mutex);
            if (shard->words.size() < cache_capacity_per_shard)
                shard->words.emplace(std::string(word), std::vector<std::int32_t>(ids.begin() + first, ids.end()));
        }
    }

    // BPE on one pre-token: repeatedly merge the adjacent pair of lowest rank
    // (leftmost first). A heap keeps long words O(n log n).
    void merge_word(std::string_view word, std::vector<std::int32_t>& ids) const {
        const data& d = *d_;
        if (d.ignore_merges) {
            if (const auto id = d.vocab.find(to_byte_level(word))) {
                ids.push_back(*id);
                return;
            }
        }
        struct symbol {
            std::int32_t id, prev, next;
        };
        struct candidate {
            std::int32_t rank, pos, left, right, merged;
            bool operator<(const candidate& o) const {  // std heap is a max-heap: invert
                return rank != o.rank ? rank > o.rank : pos > o.pos;
            }
        };
        thread_local std::vector<symbol> syms;
        thread_local std::vector<candidate> heap;
        const std::int32_t n = std::int32_t(word.size());
        syms.resize(n);
        heap.clear();
        for (std::int32_t i = 0; i < n; ++i)
            syms[i] = {d.byte_id[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
        const auto consider = [&](std::int32_t pos) {
            const std::int32_t next = syms[pos].next;
            if (next < 0) return;
            if (const auto* m = d.merges.find(syms[pos].id, syms[next].id)) {
                heap.push_back({m->rank, pos, syms[pos].id, syms[next].id, m->id});
                std::push_heap(heap.begin(), heap.end());
            }
        };
        for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end());
            const candidate c = heap.back();
            heap.pop_back();
            symbol& s = syms[c.pos];
            if (s.id != c.left || s.next < 0 || syms[s.next].id != c.right) continue;  // stale
            const std::int32_t gone = s.next;
            s.id = c.merged;
            s.next = syms[gone].next;
            if (s.next >= 0) syms[s.next].prev = c.pos;
            syms[gone].id = -1;
            if (s.prev >= 0) consider(s.prev);
            consider(c.pos);
        }
        for (std::int32_t i = 0; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
    }

    static std::string to_byte_level(std::string_view word) {
        static const auto to_char = detail::byte_to_char_table();
        std::string s;
        for (const char c : word) utf8::append_code_point(s, to_char[static_cast<unsigned char>(c)]);
        return s;
    }

    std::shared_ptr<const data> d_;
};

// Streaming decoder: push ids as they are generated; text is released only up to
// the last complete UTF-8 character, and flush() releases the rest exactly as a
// whole-sequence decode would. The concatenation of all outputs equals
// tokenizer::decode of all ids.
class incremental_decoder {
public:
    explicit incremental_decoder(const tokenizer& tok, bool skip_special_tokens = false,
                                 unknown_ids unknown = unknown_ids::error)
        : tok_(tok), skip_special_(skip_special_tokens), unknown_(unknown) {}

    // Adds one id; returns the text that became final (possibly empty).
    std::string push(std::int32_t id) {
        tok_.append_token_bytes(id, pending_, skip_special_, unknown_);
        return take(true);
    }

    std::string push(std::span<const std::int32_t> ids) {
        for (const std::int32_t id : ids) tok_.append_token_bytes(id, pending_, skip_special_, unknown_);
        return take(true);
    }

    // Releases what is held back (an incomplete character becomes U+FFFD, as in decode).
    std::string flush() { return take(false); }

    // Bytes held back waiting for the rest of a character.
    std::size_t pending_bytes() const { return pending_.size(); }

    void reset() { pending_.clear(); }

private:
    std::string take(bool hold) {
        std::string out;
        const std::size_t used = utf8::append_lossy(pending_, out, hold);
        pending_.erase(0, used);
        return out;
    }

    tokenizer tok_;
    std::string pending_;
    bool skip_special_;
    unknown_ids unknown_;
};

}  // namespace dsv4::text
