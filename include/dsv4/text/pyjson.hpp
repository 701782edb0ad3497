// dsv4/text/pyjson.hpp — JSON read and written the way CPython's `json` module does it.
//
// The DeepSeek-V4 chat format (docs/spec/ENCODING.md §5.4) serialises tool schemas,
// response formats and tool-call arguments with Python's `json.dumps(..., ensure_ascii=False)`
// and re-reads tool-call arguments with `json.loads`. Byte-exact prompts therefore need
// Python's rules where they differ from nlohmann-json's defaults:
//   * integers of any size stay exact (nlohmann stops at 64 bits; larger ones are kept here
//     as a binary value with subtype `big_int_subtype` holding the decimal text);
//   * `NaN`, `Infinity`, `-Infinity` are accepted, and numbers that overflow a double read
//     as ±Infinity (nlohmann refuses both);
//   * floats are written as Python's repr (`1e-05`, `1e+16`, `1000.0`, `-0.0`);
//   * only `"`, `\` and U+0000–U+001F are escaped, everything else is written raw;
//   * a leading byte-order mark makes the text invalid (nlohmann skips it);
//   * duplicate keys keep their first position and their last value.
// Values are nlohmann::ordered_json so that key order survives. The grammar itself is left to
// nlohmann's SAX parser: `read` only rewrites the few tokens nlohmann cannot represent into
// unique placeholder numbers before handing the text over, and maps them back in the SAX
// callbacks.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/error.hpp>

namespace dsv4::text::pyjson {

using json = nlohmann::ordered_json;

// ---- declarations -----------------------------------------------------------------------

// Subtype of the binary value that stands for an integer beyond 64 bits (ASCII "bi").
inline constexpr std::uint64_t big_int_subtype = 0x6269;
// CPython 3.11 refuses to convert integer text longer than this (sys.int_info.str_digits_check_threshold
// default), which makes json.loads fail.
inline constexpr std::size_t max_int_digits = 4300;

// A JSON integer of any size from its decimal text (optional '-', digits, no leading zeros).
json make_big_int(std::string_view decimal);
bool is_big_int(const json& v);
std::string big_int_text(const json& v);

enum class read_status {
    ok,              // valid JSON, `value` holds it
    invalid,         // json.loads would raise
    lone_surrogate,  // valid JSON, but a \uD800–\uDFFF escape is unpaired: not writable as UTF-8
};
struct read_result {
    read_status status = read_status::invalid;
    json value;
};

// json.loads(text).
read_result read(std::string_view text);
// json.loads(text), throwing dsv4::error naming `what` when the text is not usable.
json parse(std::string_view text, std::string_view what);

// json.dumps(v, ensure_ascii=False), appended to `out`.
void write(std::string& out, const json& v);
std::string dumps(const json& v);
// The quoted string as json.dumps(s, ensure_ascii=False) writes it (bytes >= 0x80 pass through).
void write_string(std::string& out, std::string_view s);
// The same without the surrounding quotes (escaping is per character, so pieces can be escaped
// one at a time).
void write_escaped(std::string& out, std::string_view s);
std::string quote(std::string_view s);
// repr(float(v)).
std::string float_repr(double v);
// Python truthiness of a JSON value (null, false, 0, 0.0, "", [], {} are false).
bool truthy(const json& v);

// ---- implementation ---------------------------------------------------------------------

inline json make_big_int(std::string_view decimal) {
    return json::binary(std::vector<std::uint8_t>(decimal.begin(), decimal.end()), big_int_subtype);
}

inline bool is_big_int(const json& v) {
    return v.is_binary() && v.get_binary().has_subtype() && v.get_binary().subtype() == big_int_subtype;
}

inline std::string big_int_text(const json& v) {
    const auto& b = v.get_binary();
    return std::string(b.begin(), b.end());
}

inline std::string float_repr(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    // Shortest round-trip digits come from to_chars; the layout is Python's (float_repr_style
    // 'short'): positional for decimal exponents -4..15, scientific otherwise.
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view s(buf, static_cast<std::size_t>(res.ptr - buf));
    std::string out;
    if (s.front() == '-') {
        out += '-';
        s.remove_prefix(1);
    }
    const auto epos = s.find('e');
    std::string digits;
    for (char c : s.substr(0, epos))
        if (c != '.') digits += c;
    int exp = 0;
    std::from_chars(s.data() + epos + (s[epos + 1] == '+' ? 2 : 1), s.data() + s.size(), exp);
    const int k = static_cast<int>(digits.size());
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            if (k <= exp + 1) {
                out += digits;
                out.append(static_cast<std::size_t>(exp + 1 - k), '0');
                out += ".0";
            } else {
                out.append(digits, 0, static_cast<std::size_t>(exp + 1));
                out += '.';
                out.append(digits, static_cast<std::size_t>(exp + 1));
            }
        } else {
            out += "0.";
            out.append(static_cast<std::size_t>(-exp - 1), '0');
            out += digits;
        }
        return out;
    }
    out += digits[0];
    if (k > 1) {
        out += '.';
        out.append(digits, 1);
    }
    out += exp < 0 ? "e-" : "e+";
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
}

inline void write_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += ch;
                }
        }
    }
}

inline void write_string(std::string& out, std::string_view s) {
    out += '"';
    write_escaped(out, s);
    out += '"';
}

inline std::string quote(std::string_view s) {
    std::string out;
    write_string(out, s);
    return out;
}

namespace detail {

// A value that is not an array or object.
inline void write_scalar(std::string& out, const json& v) {
    switch (v.type()) {
        case json::value_t::null: out += "null"; break;
        case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
        case json::value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); break;
        case json::value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); break;
        case json::value_t::number_float: out += float_repr(v.get<double>()); break;
        case json::value_t::string: write_string(out, v.get_ref<const std::string&>()); break;
        case json::value_t::binary:
            if (is_big_int(v)) {
                out += big_int_text(v);
                break;
            }
            fail("JSON: binary values cannot be written as JSON text");
        case json::value_t::discarded: fail("JSON: a discarded value cannot be written");
        case json::value_t::array:
        case json::value_t::object: fail("JSON: write_scalar called with a container");
    }
}

}  // namespace detail

// Iterative, with an explicit stack of open containers: values read from untrusted text may
// nest far deeper than the call stack allows (the reader does not recurse either).
inline void write(std::string& out, const json& v) {
    struct open_container {
        const json* value;
        json::const_iterator next;
    };
    std::vector<open_container> open;
    auto begin_value = [&](const json& e) {
        if (!e.is_array() && !e.is_object()) return detail::write_scalar(out, e);
        out += e.is_array() ? '[' : '{';
        open.push_back({&e, e.cbegin()});
    };
    begin_value(v);
    while (!open.empty()) {
        open_container& top = open.back();
        if (top.next == top.value->cend()) {
            out += top.value->is_array() ? ']' : '}';
            open.pop_back();
            continue;
        }
        if (top.next != top.value->cbegin()) out += ", ";
        if (top.value->is_object()) {
            write_string(out, top.next.key());
            out += ": ";
        }
        const json& element = *top.next;
        ++top.next;
        begin_value(element);  // may grow `open`: `top` is not used after this
    }
}

inline std::string dumps(const json& v) {
    std::string out;
    write(out, v);
    return out;
}

inline bool truthy(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return false;
        case json::value_t::boolean: return v.get<bool>();
        case json::value_t::number_integer: return v.get<std::int64_t>() != 0;
        case json::value_t::number_unsigned: return v.get<std::uint64_t>() != 0;
        case json::value_t::number_float: return v.get<double>() != 0.0;  // NaN is truthy, as in Python
        case json::value_t::string: return !v.get_ref<const std::string&>().empty();
        case json::value_t::array:
        case json::value_t::object: return !v.empty();
        case json::value_t::binary: return true;  // a big integer is never zero
        case json::value_t::discarded: return false;
    }
    return false;
}

namespace detail {

// A token nlohmann cannot hold, replaced by a placeholder number before parsing.
struct special_token {
    enum kind_t { nan, pos_inf, neg_inf, big_int } kind;
    std::string text;  // decimal text for big_int
};

// Length of a valid JSON number (RFC 8259 grammar) that spans all of `s`, or false.
inline bool is_json_number(std::string_view s, bool& is_integer) {
    std::size_t i = 0;
    auto digit = [&](std::size_t j) { return j < s.size() && s[j] >= '0' && s[j] <= '9'; };
    if (i < s.size() && s[i] == '-') ++i;
    if (!digit(i)) return false;
    if (s[i] == '0') ++i;
    else
        while (digit(i)) ++i;
    is_integer = true;
    if (i < s.size() && s[i] == '.') {
        is_integer = false;
        ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        is_integer = false;
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
    }
    return i == s.size();
}

inline int hex4(std::string_view s, std::size_t at) {
    if (at + 4 > s.size()) return -1;
    int v = 0;
    for (std::size_t j = at; j < at + 4; ++j) {
        const char c = s[j];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    return v;
}

// Rewrites `text` for nlohmann: outside strings, NaN / Infinity / -Infinity and numbers whose
// magnitude overflows a double become " <placeholder> " (the spaces keep token boundaries, so
// e.g. "-NaN" stays invalid); inside strings, unpaired surrogate escapes become \ufffd and are
// reported. Everything else is copied, so nlohmann still decides validity.
struct prepared_text {
    std::string text;
    std::string placeholder_prefix;  // "0e" + zeros not present in the input
    std::vector<special_token> specials;
    bool lone_surrogate = false;
};

inline prepared_text prepare(std::string_view in) {
    prepared_text p;
    std::size_t longest_zeros = 0, run = 0;
    for (char c : in) {
        run = c == '0' ? run + 1 : 0;
        longest_zeros = std::max(longest_zeros, run);
    }
    p.placeholder_prefix = "0e" + std::string(longest_zeros + 1, '0');
    auto add_special = [&](special_token t) {
        p.text += ' ';
        p.text += p.placeholder_prefix;
        p.text += std::to_string(p.specials.size());
        p.text += ' ';
        p.specials.push_back(std::move(t));
    };
    auto number_char = [](char c) {
        return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    };
    bool in_string = false;
    std::size_t i = 0;
    while (i < in.size()) {
        const char c = in[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
            } else if (c == '\\' && i + 1 < in.size()) {
                if (in[i + 1] == 'u') {
                    const int cp = hex4(in, i + 2);
                    if (cp >= 0xD800 && cp <= 0xDBFF && in.substr(i + 6, 2) == "\\u") {
                        const int lo = hex4(in, i + 8);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {  // a proper pair: keep both escapes
                            p.text.append(in.substr(i, 12));
                            i += 12;
                            continue;
                        }
                    }
                    if (cp >= 0xD800 && cp <= 0xDFFF) {
                        p.lone_surrogate = true;
                        p.text += "\\ufffd";
                        i += 6;
                        continue;
                    }
                }
                p.text.append(in.substr(i, 2));  // the escaped character cannot end the string
                i += 2;
                continue;
            }
            p.text += c;
            ++i;
            continue;
        }
        if (c == '"') {
            in_string = true;
            p.text += c;
            ++i;
            continue;
        }
        if (in.substr(i, 3) == "NaN") {
            add_special({special_token::nan, {}});
            i += 3;
            continue;
        }
        if (in.substr(i, 8) == "Infinity") {
            add_special({special_token::pos_inf, {}});
            i += 8;
            continue;
        }
        if (in.substr(i, 9) == "-Infinity") {
            add_special({special_token::neg_inf, {}});
            i += 9;
            continue;
        }
        if (number_char(c)) {
            std::size_t j = i;
            while (j < in.size() && number_char(in[j])) ++j;
            const std::string run_text(in.substr(i, j - i));
            bool is_integer = false;
            if (is_json_number(run_text, is_integer) && !std::isfinite(std::strtod(run_text.c_str(), nullptr))) {
                if (is_integer)
                    add_special({special_token::big_int, run_text});
                else
                    add_special({run_text[0] == '-' ? special_token::neg_inf : special_token::pos_inf, {}});
            } else {
                p.text += run_text;
            }
            i = j;
            continue;
        }
        p.text += c;
        ++i;
    }
    return p;
}

inline std::size_t count_digits(std::string_view s) {
    return s.size() - (!s.empty() && s[0] == '-' ? 1 : 0);
}

// Builds an ordered_json from nlohmann's SAX events, mapping placeholders back.
class dom_builder {
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    explicit dom_builder(const prepared_text& p) : prep_(p) {}

    json root;
    bool too_many_digits = false;

    bool null() { return put(json(nullptr)); }
    bool boolean(bool v) { return put(json(v)); }
    bool number_integer(number_integer_t v) { return put(json(v)); }
    bool number_unsigned(number_unsigned_t v) { return put(json(v)); }
    bool number_float(number_float_t v, const string_t& raw) {
        const auto& prefix = prep_.placeholder_prefix;
        if (raw.size() > prefix.size() && raw.compare(0, prefix.size(), prefix) == 0) {
            const auto& sp = prep_.specials.at(std::stoul(raw.substr(prefix.size())));
            switch (sp.kind) {
                case special_token::nan: return put(json(std::numeric_limits<double>::quiet_NaN()));
                case special_token::pos_inf: return put(json(std::numeric_limits<double>::infinity()));
                case special_token::neg_inf: return put(json(-std::numeric_limits<double>::infinity()));
                case special_token::big_int: return put_big_int(sp.text);
            }
        }
        // An integer beyond 64 bits reaches nlohmann's float path with its text intact.
        if (raw.find_first_of(".eE") == std::string::npos) return put_big_int(raw);
        return put(json(v));
    }
    bool string(string_t& v) { return put(json(std::move(v))); }
    bool binary(binary_t& v) { return put(json(std::move(v))); }
    bool start_object(std::size_t) { return open(json::object()); }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_array() { return close(); }
    bool key(string_t& k) {
        key_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

private:
    bool put_big_int(const std::string& text) {
        if (count_digits(text) > max_int_digits) {
            too_many_digits = true;
            return false;
        }
        return put(make_big_int(text));
    }
    json* place(json v) {
        if (stack_.empty()) {
            root = std::move(v);
            return &root;
        }
        json& top = *stack_.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        // ordered_json's operator[] keeps an existing key where it is: Python's duplicate-key rule.
        json& slot = top[key_];
        slot = std::move(v);
        return &slot;
    }
    bool put(json v) {
        place(std::move(v));
        return true;
    }
    bool open(json v) {
        stack_.push_back(place(std::move(v)));
        return true;
    }
    bool close() {
        stack_.pop_back();
        return true;
    }

    const prepared_text& prep_;
    std::vector<json*> stack_;
    std::string key_;
};

}  // namespace detail

inline read_result read(std::string_view text) {
    read_result r;
    // json.loads refuses a leading BOM ("Unexpected UTF-8 BOM"); nlohmann would skip it.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") return r;
    const detail::prepared_text p = detail::prepare(text);
    detail::dom_builder b(p);
    if (!json::sax_parse(p.text, &b, json::input_format_t::json, true, false)) return r;
    r.status = p.lone_surrogate ? read_status::lone_surrogate : read_status::ok;
    r.value = std::move(b.root);
    return r;
}

inline json parse(std::string_view text, std::string_view what) {
    read_result r = read(text);
    if (r.status == read_status::invalid) fail(what, ": invalid JSON");
    if (r.status == read_status::lone_surrogate)
        fail(what, ": a \\u escape decodes to an unpaired surrogate, which cannot be written as UTF-8");
    return std::move(r.value);
}

}  // namespace dsv4::text::pyjson
