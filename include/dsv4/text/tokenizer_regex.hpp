// dsv4/text/tokenizer_regex.hpp — the split regexes of tokenizer.json, on PCRE2.
//
// Why: Hugging Face tokenizers runs the pre-tokenizer patterns with Oniguruma and
// Unicode 16.0 tables; PCRE2 10.42 differs in two measured ways: its UCP `\s` also
// matches U+180E, and its \p{..} tables are Unicode 14.0. So before compiling, the
// pattern is rewritten: every \p{..}/\P{..}, \s/\S and \d/\D becomes an explicit
// character class generated from the Unicode 16.0 tables (unicode_tables.hpp).
// Constructs whose meaning differs between the engines (\w, \b, anchors, inline
// flags, nested classes, ...) are rejected with dsv4::error rather than compiled to
// something that would tokenize differently.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <dsv4/error.hpp>
#include <dsv4/text/unicode_tables.hpp>
#include <dsv4/text/utf8.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv4::text {

// A set of code points as sorted, disjoint, non-adjacent inclusive ranges.
using code_point_set = std::vector<std::pair<char32_t, char32_t>>;

namespace unicode {

inline constexpr char32_t max_code_point = 0x10FFFF;

inline code_point_set normalized(code_point_set s) {
    std::sort(s.begin(), s.end());
    code_point_set out;
    for (const auto& r : s) {
        if (!out.empty() && out.back().second + 1 >= r.first)
            out.back().second = std::max(out.back().second, r.second);
        else
            out.push_back(r);
    }
    return out;
}

inline code_point_set complement(const code_point_set& s) {
    code_point_set out;
    char32_t next = 0;
    for (const auto& r : s) {
        if (r.first > next) out.emplace_back(next, r.first - 1);
        next = r.second + 1;
    }
    if (next <= max_code_point) out.emplace_back(next, max_code_point);
    return out;
}

// Code points whose general category is in `mask` (bit i = general_category i).
// Cn (unassigned) is the gaps between the table's ranges.
inline code_point_set categories(std::uint32_t mask) {
    code_point_set out;
    const bool want_cn = mask & (1u << static_cast<int>(general_category::Cn));
    char32_t next = 0;
    for (const auto& r : category_ranges) {
        if (want_cn && r.first > next) out.emplace_back(next, r.first - 1);
        if (mask & (1u << static_cast<int>(r.category))) out.emplace_back(r.first, r.last);
        next = r.last + 1;
    }
    if (want_cn && next <= max_code_point) out.emplace_back(next, max_code_point);
    return normalized(std::move(out));
}

template <std::size_t N>
code_point_set from_table(const code_point_range (&table)[N]) {
    code_point_set out;
    for (const auto& r : table) out.emplace_back(r.first, r.last);
    return normalized(std::move(out));
}

// General-category mask of a \p{..} name (short or long form, as Oniguruma
// accepts them), or 0 if the name is not a general category.
inline std::uint32_t category_mask(std::string_view name) {
    using gc = general_category;
    auto bit = [](gc c) { return 1u << static_cast<int>(c); };
    auto span = [&](gc a, gc b) {
        std::uint32_t m = 0;
        for (int i = static_cast<int>(a); i <= static_cast<int>(b); ++i) m |= 1u << i;
        return m;
    };
    struct entry {
        std::string_view short_name, long_name;
        std::uint32_t mask;
    };
    const entry entries[] = {
        {"L", "Letter", span(gc::Lu, gc::Lo)},
        {"LC", "Cased_Letter", bit(gc::Lu) | bit(gc::Ll) | bit(gc::Lt)},
        {"L&", "Cased_Letter", bit(gc::Lu) | bit(gc::Ll) | bit(gc::Lt)},
        {"Lu", "Uppercase_Letter", bit(gc::Lu)}, {"Ll", "Lowercase_Letter", bit(gc::Ll)},
        {"Lt", "Titlecase_Letter", bit(gc::Lt)}, {"Lm", "Modifier_Letter", bit(gc::Lm)},
        {"Lo", "Other_Letter", bit(gc::Lo)},
        {"M", "Mark", span(gc::Mn, gc::Me)},
        {"Mn", "Nonspacing_Mark", bit(gc::Mn)}, {"Mc", "Spacing_Mark", bit(gc::Mc)},
        {"Me", "Enclosing_Mark", bit(gc::Me)},
        {"N", "Number", span(gc::Nd, gc::No)},
        {"Nd", "Decimal_Number", bit(gc::Nd)}, {"Nl", "Letter_Number", bit(gc::Nl)},
        {"No", "Other_Number", bit(gc::No)},
        {"P", "Punctuation", span(gc::Pc, gc::Po)},
        {"Pc", "Connector_Punctuation", bit(gc::Pc)}, {"Pd", "Dash_Punctuation", bit(gc::Pd)},
        {"Ps", "Open_Punctuation", bit(gc::Ps)}, {"Pe", "Close_Punctuation", bit(gc::Pe)},
        {"Pi", "Initial_Punctuation", bit(gc::Pi)}, {"Pf", "Final_Punctuation", bit(gc::Pf)},
        {"Po", "Other_Punctuation", bit(gc::Po)},
        {"S", "Symbol", span(gc::Sm, gc::So)},
        {"Sm", "Math_Symbol", bit(gc::Sm)}, {"Sc", "Currency_Symbol", bit(gc::Sc)},
        {"Sk", "Modifier_Symbol", bit(gc::Sk)}, {"So", "Other_Symbol", bit(gc::So)},
        {"Z", "Separator", span(gc::Zs, gc::Zp)},
        {"Zs", "Space_Separator", bit(gc::Zs)}, {"Zl", "Line_Separator", bit(gc::Zl)},
        {"Zp", "Paragraph_Separator", bit(gc::Zp)},
        {"C", "Other", span(gc::Cc, gc::Cn)},
        {"Cc", "Control", bit(gc::Cc)}, {"Cf", "Format", bit(gc::Cf)},
        {"Cs", "Surrogate", bit(gc::Cs)}, {"Co", "Private_Use", bit(gc::Co)},
        {"Cn", "Unassigned", bit(gc::Cn)},
    };
    for (const auto& e : entries)
        if (name == e.short_name || name == e.long_name) return e.mask;
    return 0;
}

// General category of one code point (binary search in the generated table).
inline general_category category_of(char32_t cp) {
    const auto* first = std::begin(category_ranges);
    const auto* last = std::end(category_ranges);
    const auto* it = std::upper_bound(first, last, cp, [](char32_t c, const category_range& r) { return c < r.first; });
    if (it == first) return general_category::Cn;
    --it;
    return cp <= it->last ? it->category : general_category::Cn;
}

inline bool in_table_set(const code_point_set& s, char32_t cp) {
    auto it = std::upper_bound(s.begin(), s.end(), cp, [](char32_t c, const auto& r) { return c < r.first; });
    return it != s.begin() && cp <= std::prev(it)->second;
}

}  // namespace unicode

namespace detail {

// Appends the ranges of a set as PCRE2 class items; surrogates cannot appear in a
// UTF pattern and cannot occur in valid UTF-8 input, so they are left out.
inline void append_class_items(std::string& out, const code_point_set& set) {
    char buf[40];
    for (auto [a, b] : set) {
        if (a >= 0xD800 && b <= 0xDFFF) continue;
        if (a < 0xD800 && b >= 0xD800) {
            if (b > 0xDFFF) {
                std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}\\x{%X}-\\x{%X}", unsigned(a), 0xD7FFu, 0xE000u, unsigned(b));
                out += buf;
                continue;
            }
            b = 0xD7FF;
        }
        if (a >= 0xD800 && a <= 0xDFFF) a = 0xE000;
        if (a == b)
            std::snprintf(buf, sizeof buf, "\\x{%X}", unsigned(a));
        else
            std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", unsigned(a), unsigned(b));
        out += buf;
    }
}

}  // namespace detail

// Rewrites an Oniguruma-syntax split pattern (as found in tokenizer.json) into an
// equivalent PCRE2 pattern with Unicode 16.0 classes. `where` names the JSON field
// for error messages.
inline std::string translate_pattern(std::string_view p, std::string_view where) {
    std::string out;
    out.reserve(p.size() * 4);
    bool in_class = false;
    std::size_t class_start = 0;  // index in p just after '[' or '[^'
    const auto reject = [&](std::string_view what) {
        fail(where, ": regex construct ", what, " is not supported (its meaning differs between "
             "Oniguruma and PCRE2); pattern: ", p);
    };
    const auto emit_set = [&](const code_point_set& set, bool negate) {
        if (in_class) {
            detail::append_class_items(out, negate ? unicode::complement(set) : set);
        } else {
            out += negate ? "[^" : "[";
            detail::append_class_items(out, set);
            out += ']';
        }
    };
    std::size_t i = 0;
    while (i < p.size()) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 >= p.size()) fail(where, ": pattern ends with a lone backslash: ", p);
            const char e = p[i + 1];
            if (e == 'p' || e == 'P') {
                bool negate = e == 'P';
                std::string name;
                std::size_t j = i + 2;
                if (j < p.size() && p[j] == '{') {
                    const std::size_t close = p.find('}', j);
                    if (close == std::string_view::npos) fail(where, ": unterminated \\p{ in pattern: ", p);
                    name = std::string(p.substr(j + 1, close - j - 1));
                    j = close + 1;
                } else if (j < p.size()) {
                    name = std::string(1, p[j]);
                    ++j;
                } else {
                    fail(where, ": pattern ends after \\p: ", p);
                }
                if (!name.empty() && name[0] == '^') {
                    negate = !negate;
                    name.erase(0, 1);
                }
                const std::uint32_t mask = unicode::category_mask(name);
                if (mask == 0)
                    fail(where, ": Unicode property \\p{", name, "} is not supported (only general categories "
                         "are implemented); pattern: ", p);
                emit_set(unicode::categories(mask), negate);
                i = j;
                continue;
            }
            if (e == 's' || e == 'S') {
                // Oniguruma's \s is the White_Space property (PCRE2's UCP \s adds U+180E).
                emit_set(unicode::from_table(unicode::white_space), e == 'S');
                i += 2;
                continue;
            }
            if (e == 'd' || e == 'D') {
                emit_set(unicode::categories(1u << static_cast<int>(unicode::general_category::Nd)), e == 'D');
                i += 2;
                continue;
            }
            if (e == 'u') {  // Oniguruma \uHHHH; PCRE2 spells it \x{HHHH}
                if (i + 6 > p.size()) fail(where, ": truncated \\u escape in pattern: ", p);
                out += "\\x{";
                out += p.substr(i + 2, 4);
                out += '}';
                i += 6;
                continue;
            }
            if (e == 't' || e == 'n' || e == 'r' || e == 'f' || e == 'a' || e == 'e') {
                out += p.substr(i, 2);
                i += 2;
                continue;
            }
            if (e == 'x') {  // \xHH or \x{H...}: identical in both engines
                std::size_t j = i + 2;
                if (j < p.size() && p[j] == '{') {
                    const std::size_t close = p.find('}', j);
                    if (close == std::string_view::npos) fail(where, ": unterminated \\x{ in pattern: ", p);
                    j = close + 1;
                } else {
                    while (j < p.size() && j < i + 4 && std::isxdigit(static_cast<unsigned char>(p[j]))) ++j;
                }
                out += p.substr(i, j - i);
                i = j;
                continue;
            }
            if (static_cast<unsigned char>(e) < 0x80 && std::isalnum(static_cast<unsigned char>(e)))
                reject(std::string("\\") + e);
            // An escaped punctuation or non-ASCII character is that literal character.
            std::size_t j = i + 1;
            utf8::next_code_point(p, j);
            out += p.substr(i, j - i);
            i = j;
            continue;
        }
        if (in_class) {
            if (c == ']' && i > class_start) {
                in_class = false;
            } else if (c == '[') {
                reject("'[' inside a character class (nested class or POSIX class)");
            } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
                reject("'&&' (class intersection)");
            }
            out += c;
            ++i;
            continue;
        }
        switch (c) {
        case '[':
            in_class = true;
            out += c;
            ++i;
            if (i < p.size() && p[i] == '^') {
                out += '^';
                ++i;
            }
            class_start = i;
            continue;
        case '(':
            if (i + 1 < p.size() && p[i + 1] == '?') {
                const std::string_view rest = p.substr(i + 2);
                if (!(rest.starts_with(":") || rest.starts_with("=") || rest.starts_with("!") ||
                      rest.starts_with("<=") || rest.starts_with("<!") || rest.starts_with(">")))
                    reject("'(?' group other than (?: (?= (?! (?<= (?<! (?>");
            }
            break;
        case '^':
        case '$':
            reject("anchor '^'/'$' (line anchors in Oniguruma)");
            break;
        default:
            break;
        }
        out += c;
        ++i;
    }
    if (in_class) fail(where, ": unterminated character class in pattern: ", p);
    return out;
}

// One compiled, JIT-ed PCRE2 pattern. Immutable after construction; matching is
// thread-safe (match data and JIT stack are per thread).
class split_regex {
public:
    split_regex(std::string_view onig_pattern, std::string_view where)
        : source_(onig_pattern), translated_(translate_pattern(onig_pattern, where)) {
        int err = 0;
        PCRE2_SIZE offset = 0;
        std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> ctx(
            pcre2_compile_context_create(nullptr), &pcre2_compile_context_free);
        // Oniguruma's '.' excludes only LF; make PCRE2 agree whatever its build default.
        pcre2_set_newline(ctx.get(), PCRE2_NEWLINE_LF);
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated_.data()), translated_.size(),
                                         PCRE2_UTF | PCRE2_UCP, &err, &offset, ctx.get());
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail(where, ": PCRE2 cannot compile the pattern (", reinterpret_cast<const char*>(msg),
                 " at offset ", offset, " of the translated pattern); pattern: ", onig_pattern);
        }
        code_.reset(code, &pcre2_code_free);
        jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    }

    const std::string& source() const { return source_; }
    bool jit() const { return jit_; }

    // Finds the leftmost match in subject[offset..), the subject being exactly the
    // piece (look-arounds must not see past it). Subject must be valid UTF-8.
    bool find(std::string_view subject, std::size_t offset, std::size_t& start, std::size_t& end) const {
        thread_state& ts = state();
        const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
        const int rc = jit_ ? pcre2_jit_match(code_.get(), s, subject.size(), offset, 0, ts.match, ts.context)
                            : pcre2_match(code_.get(), s, subject.size(), offset, PCRE2_NO_UTF_CHECK, ts.match,
                                          ts.context);
        if (rc == PCRE2_ERROR_NOMATCH) return false;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            fail("tokenizer: PCRE2 match failed (", reinterpret_cast<const char*>(msg), ") for pattern ", source_);
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.match);
        start = ov[0];
        end = ov[1];
        return true;
    }

private:
    struct thread_state {
        pcre2_match_data* match = nullptr;
        pcre2_match_context* context = nullptr;
        pcre2_jit_stack* stack = nullptr;
        thread_state() {
            match = pcre2_match_data_create(1, nullptr);
            context = pcre2_match_context_create(nullptr);
            // Up to 8 MiB for long whitespace/letter runs; the default 32 KiB can overflow.
            stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
            if (!match || !context || !stack) fail("tokenizer: PCRE2 out of memory");
            pcre2_jit_stack_assign(context, nullptr, stack);
        }
        ~thread_state() {
            pcre2_jit_stack_free(stack);
            pcre2_match_context_free(context);
            pcre2_match_data_free(match);
        }
        thread_state(const thread_state&) = delete;
        thread_state& operator=(const thread_state&) = delete;
    };
    static thread_state& state() {
        thread_local thread_state ts;
        return ts;
    }

    std::string source_;
    std::string translated_;
    std::shared_ptr<pcre2_code> code_;
    bool jit_ = false;
};

}  // namespace dsv4::text
