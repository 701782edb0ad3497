// dsv4/text/utf8.hpp — UTF-8 validation, lossy decoding and encoding.
//
// Why: the tokenizer must (a) reject invalid UTF-8 input with the byte offset of
// the first bad byte, (b) turn the bytes of decoded tokens into text exactly like
// Rust's String::from_utf8_lossy (which Hugging Face's ByteLevel decoder uses):
// each maximal subpart of an ill-formed sequence becomes one U+FFFD (Unicode
// "maximal subpart" practice, Table 3-7 of the standard), and (c) let a streaming
// decoder hold back an incomplete-but-valid tail instead of emitting U+FFFD early.
// All three share one scanner so they cannot disagree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dsv4::text::utf8 {

// Result of scanning one sequence starting at a given byte.
struct sequence {
    std::size_t length;  // bytes consumed (valid char, or the maximal invalid subpart)
    bool valid;          // a complete well-formed character
    bool truncated;      // well-formed so far but the input ended before it completed
};

// Scans the sequence starting at s[i] (i < s.size()) per Unicode Table 3-7.
inline sequence scan(std::string_view s, std::size_t i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) return {1, true, false};
    std::size_t need;                    // continuation bytes required
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) lo = 0xA0;       // excludes overlong forms
        else if (b == 0xED) hi = 0x9F;  // excludes surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) lo = 0x90;       // overlong
        else if (b == 0xF4) hi = 0x8F;  // > U+10FFFF
    } else {
        return {1, false, false};  // continuation byte, C0/C1, F5..FF
    }
    std::size_t k = 0;
    while (k < need) {
        const std::size_t j = i + 1 + k;
        if (j >= s.size()) return {1 + k, false, true};
        const auto c = static_cast<unsigned char>(s[j]);
        const unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
        if (c < l || c > h) return {1 + k, false, false};
        ++k;
    }
    return {1 + need, true, false};
}

// Byte offset of the first ill-formed (or truncated) sequence, or npos if s is valid.
inline std::size_t first_invalid(std::string_view s) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        // ASCII runs are the common case: skip them 8 bytes at a time.
        while (i + 8 <= n) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const sequence q = scan(s, i);
        if (!q.valid) return i;
        i += q.length;
    }
    return std::string_view::npos;
}

inline constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// Appends the lossy decoding of s to out. If hold_truncated, a well-formed but
// incomplete sequence at the very end is not decoded; returns the number of bytes
// consumed (s.size() unless a tail was held back).
inline std::size_t append_lossy(std::string_view s, std::string& out, bool hold_truncated = false) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        std::size_t run = i;
        while (run < n && static_cast<unsigned char>(s[run]) < 0x80) ++run;
        out.append(s.data() + i, run - i);
        i = run;
        if (i >= n) break;
        const sequence q = scan(s, i);
        if (q.valid) {
            out.append(s.data() + i, q.length);
        } else if (q.truncated && hold_truncated) {
            return i;
        } else {
            out.append(replacement);
        }
        i += q.length;
    }
    return n;
}

inline std::string lossy(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_lossy(s, out);
    return out;
}

// Appends the UTF-8 encoding of code point cp (cp must be a scalar value).
inline void append_code_point(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Decodes the (valid) character at s[i], advancing i.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        ++i;
        return b;
    }
    const std::size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    char32_t cp = b & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    return cp;
}

}  // namespace dsv4::text::utf8
