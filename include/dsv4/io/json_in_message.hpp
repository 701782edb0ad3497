// dsv4/io/json_in_message.hpp — a JSON value as an error message quotes it.
#pragma once

#include <string>

namespace dsv4 {

// Scalars are written as JSON text; arrays and objects are named by their type ("a JSON
// array"). Why not dump() everything: dump() recurses once per nesting level, so quoting a
// deeply nested value from an untrusted file ([[[[...]]]]) would overflow the stack while
// the error is being reported. Bytes that are not UTF-8 are replaced rather than thrown on.
template <class Json>
std::string json_in_message(const Json& v) {
    if (v.is_array() || v.is_object()) return std::string("a JSON ") + v.type_name();
    return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace dsv4
