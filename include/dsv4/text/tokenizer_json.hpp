// dsv4/text/tokenizer_json.hpp — fast reading of a Hugging Face tokenizer.json.
//
// Why: a tokenizer.json is ~8 MB, almost all of it model.vocab (128k entries) and
// model.merges (128k strings). As a nlohmann DOM those become a std::map of 128k
// nodes whose construction, iteration and destruction cost more than the parse
// itself. The SAX reader here streams those two members into flat vectors and
// builds an ordinary DOM for the small rest; string_table then indexes the
// vocabulary in one arena with open addressing.
#pragma once

#include <dsv4/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv4::text::detail {

// Immutable string -> int32 map over one character arena (built once, then only read).
class string_table {
public:
    // Later duplicates of a key replace earlier ones (as a JSON object read into a map).
    void build(std::vector<std::pair<std::string, std::int32_t>>& entries) {
        std::size_t cap = 16;
        while (cap < entries.size() * 2) cap <<= 1;
        slots_.assign(cap, -1);
        mask_ = cap - 1;
        offsets_.reserve(entries.size() + 1);
        values_.reserve(entries.size());
        offsets_.assign(1, 0);
        for (auto& [key, value] : entries) {
            const std::size_t h = hash(key);
            std::size_t i = h & mask_;
            for (;; i = (i + 1) & mask_) {
                if (slots_[i] < 0) break;
                if (key_of(slots_[i]) == key) break;
            }
            if (slots_[i] >= 0) {
                values_[slots_[i]] = value;
                continue;
            }
            slots_[i] = std::int32_t(values_.size());
            arena_ += key;
            offsets_.push_back(std::uint32_t(arena_.size()));
            values_.push_back(value);
        }
    }
    std::optional<std::int32_t> find(std::string_view key) const {
        if (slots_.empty()) return std::nullopt;
        for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i] < 0) return std::nullopt;
            if (key_of(slots_[i]) == key) return values_[slots_[i]];
        }
    }
    std::size_t size() const { return values_.size(); }
    std::string_view key(std::size_t i) const { return key_of(std::int32_t(i)); }
    std::int32_t value(std::size_t i) const { return values_[i]; }

private:
    static std::size_t hash(std::string_view s) {
        // FNV-1a: keys are short, and this is only used while loading and for lookups by text.
        std::uint64_t h = 0xcbf29ce484222325ULL;
        for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        return std::size_t(h ^ (h >> 29));
    }
    std::string_view key_of(std::int32_t i) const {
        return std::string_view(arena_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
    }
    std::string arena_;
    std::vector<std::uint32_t> offsets_;
    std::vector<std::int32_t> values_;
    std::vector<std::int32_t> slots_;
    std::size_t mask_ = 0;
};

// SAX handler for nlohmann::json::sax_parse (see the file comment).
class tokenizer_json_reader {
public:
    using json = nlohmann::json;

    json root;
    bool have_vocab = false, have_merges = false;
    std::vector<std::pair<std::string, std::int32_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;

    bool null() { return value(json(nullptr)); }
    bool boolean(bool v) { return value(json(v)); }
    bool number_integer(json::number_integer_t v) {
        if (mode_ == mode::vocab) {
            if (v < 0 || v > INT32_MAX) bad_vocab_value(std::to_string(v));
            vocab.emplace_back(std::move(vocab_key_), std::int32_t(v));
            return true;
        }
        return value(json(v));
    }
    bool number_unsigned(json::number_unsigned_t v) {
        if (mode_ == mode::vocab) {
            if (v > INT32_MAX) bad_vocab_value(std::to_string(v));
            vocab.emplace_back(std::move(vocab_key_), std::int32_t(v));
            return true;
        }
        return value(json(v));
    }
    bool number_float(json::number_float_t v, const std::string&) { return value(json(v)); }
    bool binary(json::binary_t&) { fail("tokenizer.json: binary values are not JSON"); }
    bool string(std::string& s) {
        if (mode_ == mode::merges) {
            const std::size_t sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                fail("tokenizer.json: model.merges[", merges.size(), "] = \"", s, "\" is not \"left right\"");
            merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
            return true;
        }
        if (mode_ == mode::merge_pair) {
            pair_.push_back(std::move(s));
            return true;
        }
        return value(json(std::move(s)));
    }
    bool key(std::string& k) {
        if (mode_ == mode::vocab)
            vocab_key_ = std::move(k);
        else
            key_ = std::move(k);
        return true;
    }
    bool start_object(std::size_t) {
        if (in_model() && key_ == "vocab" && mode_ == mode::dom) {
            mode_ = mode::vocab;
            have_vocab = true;
            return true;
        }
        if (mode_ != mode::dom) bad_bulk_value();
        open(json::object());
        return true;
    }
    bool end_object() {
        if (mode_ == mode::vocab) {
            mode_ = mode::dom;
            return true;
        }
        close();
        return true;
    }
    bool start_array(std::size_t) {
        if (in_model() && key_ == "merges" && mode_ == mode::dom) {
            mode_ = mode::merges;
            have_merges = true;
            return true;
        }
        if (mode_ == mode::merges) {
            mode_ = mode::merge_pair;
            pair_.clear();
            return true;
        }
        if (mode_ != mode::dom) bad_bulk_value();
        open(json::array());
        return true;
    }
    bool end_array() {
        if (mode_ == mode::merges) {
            mode_ = mode::dom;
            return true;
        }
        if (mode_ == mode::merge_pair) {
            if (pair_.size() != 2)
                fail("tokenizer.json: model.merges[", merges.size(), "] must be \"left right\" or [left, right]");
            merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
            mode_ = mode::merges;
            return true;
        }
        close();
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
        fail("tokenizer.json: ", e.what());
    }

private:
    enum class mode { dom, vocab, merges, merge_pair };

    // Directly inside the top-level "model" object.
    bool in_model() const { return stack_.size() == 2 && names_[1] == "model" && stack_[1]->is_object(); }

    [[noreturn]] void bad_vocab_value(const std::string& v) const {
        fail("tokenizer.json: model.vocab[\"", vocab_key_, "\"] = ", v, " must be a non-negative integer id");
    }
    [[noreturn]] void bad_bulk_value() const {
        if (mode_ == mode::vocab) fail("tokenizer.json: model.vocab[\"", vocab_key_, "\"] must be a non-negative integer id");
        fail("tokenizer.json: model.merges[", merges.size(), "] must be \"left right\" or [left, right]");
    }

    json* insert(json&& v) {
        if (stack_.empty()) {
            root = std::move(v);
            return &root;
        }
        json& top = *stack_.back();
        if (top.is_object()) {
            json& slot = top[key_];
            slot = std::move(v);
            return &slot;
        }
        // Safe to point into the array: it only grows after this child is closed.
        top.push_back(std::move(v));
        return &top.back();
    }
    bool value(json&& v) {
        if (mode_ != mode::dom) bad_bulk_value();
        insert(std::move(v));
        return true;
    }
    void open(json&& container) {
        const bool in_object = !stack_.empty() && stack_.back()->is_object();
        std::string name = in_object ? key_ : std::string();
        stack_.push_back(insert(std::move(container)));
        names_.push_back(std::move(name));
    }
    void close() {
        stack_.pop_back();
        names_.pop_back();
    }

    mode mode_ = mode::dom;
    std::vector<json*> stack_;
    std::vector<std::string> names_;  // member name of each open container ("" in arrays)
    std::string key_, vocab_key_;
    std::vector<std::string> pair_;
};

}  // namespace dsv4::text::detail
