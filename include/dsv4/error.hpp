// dsv4/error.hpp — the one exception type of the library.
//
// Every failure caused by input (a file, a tensor, a config field, an argument)
// is reported as dsv4::error whose message names the thing at fault and what was
// expected. DSV4_CHECK stays on in release builds: it guards shapes and indices
// at API boundaries, never inner loops.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dsv4 {

class error : public std::runtime_error {
public:
    explicit error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    return os.str();
}
}  // namespace detail

// "0x" and 16 hex digits, for digests in messages and file metadata.
inline std::string hex(uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s = "0x";
    for (int i = 15; i >= 0; --i) s += digits[(v >> (4 * i)) & 0xF];
    return s;
}

// A JSON value (nlohmann) as an error message quotes it: scalars as JSON text, arrays and
// objects named by their type ("a JSON array"). Why not dump() everything: dump() recurses
// once per nesting level, so quoting a deeply nested value from an untrusted file
// ([[[[...]]]]) would overflow the stack while the error is being reported. Bytes that are
// not UTF-8 are replaced rather than thrown on.
template <class Json>
std::string json_in_message(const Json& v) {
    if (v.is_array() || v.is_object()) return std::string("a JSON ") + v.type_name();
    return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Throws dsv4::error with the concatenation of the streamed parts.
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    throw error(detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace dsv4

#define DSV4_CHECK(cond, ...)                      \
    do {                                           \
        if (!(cond)) ::dsv4::fail(__VA_ARGS__);    \
    } while (0)
