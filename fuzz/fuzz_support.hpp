// Pieces shared by the fuzz targets: control bytes taken off the front of the input (modes,
// split points) and a check that aborts with a message, so that a broken property is a
// finding with a readable report rather than a silent pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace dsv4::fuzz {

// The fuzz data as a few control bytes followed by a text.
class input {
public:
    input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    // The next control byte; 0 once the data is used up (so short inputs stay meaningful).
    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    // The next two control bytes as a little-endian number.
    std::size_t u16() {
        const std::size_t lo = byte();
        return lo | (std::size_t(byte()) << 8);
    }
    // Everything not taken as control bytes.
    std::string_view rest() const {
        return {reinterpret_cast<const char*>(data_) + pos_, size_ - pos_};
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// Aborts with `what` (a finding): the target's contract does not hold for this input.
[[noreturn]] inline void broken(const std::string& what) {
    std::fprintf(stderr, "fuzz property broken: %s\n", what.c_str());
    std::abort();
}

// For fixed messages; a message built from the input is built only on failure:
// `if (!ok) broken(...)`.
inline void check(bool ok, const char* what) {
    if (!ok) broken(what);
}

// JSON text for a report (strings may hold bytes that are not UTF-8).
template <class Json>
std::string show(const Json& j) {
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace dsv4::fuzz
