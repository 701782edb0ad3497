// dsv4/io/safetensors.hpp — strict, zero-copy reader of one .safetensors file.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "string", ...}}, then the data buffer. Offsets are relative
// to the data buffer. Validation is strict (as the reference `safetensors` library):
// header length within the file and under a cap, well-formed JSON object, no duplicate
// names, every dtype known, dtype size x shape = byte span, spans inside the buffer,
// non-overlapping and covering it without holes, each span aligned to its element size
// (so kernels may read it in place). Every failure is a dsv4::error naming the file and,
// where there is one, the tensor.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/error.hpp>
#include <dsv4/io/mapped_file.hpp>
#include <dsv4/tensor/dtype.hpp>

namespace dsv4 {

inline constexpr uint64_t safetensors_max_header_bytes = 100'000'000;  // as the reference library

// One stored tensor: its bytes stay in the mapped file.
struct tensor_view {
    std::string name;
    dtype type = dtype::f32;
    std::vector<int64_t> shape;
    const std::byte* data = nullptr;
    size_t nbytes = 0;
    std::string file;  // path, for error messages

    int64_t numel() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    int64_t dim(size_t i) const { return shape.at(i); }
    std::string shape_string() const {
        std::string s = "[";
        for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
    // Typed pointer to the data; the caller states the element type it expects.
    template <class T>
    const T* as(dtype expected) const {
        DSV4_CHECK(type == expected, file, ": tensor '", name, "' has dtype ", dtype_name(type), ", expected ",
                   dtype_name(expected));
        return reinterpret_cast<const T*>(data);
    }
};

struct safetensors_header {
    std::vector<tensor_view> tensors;  // in data-offset order
    std::map<std::string, std::string> metadata;
    size_t data_offset = 0;  // start of the data buffer in the file
};

namespace detail {

inline int64_t checked_mul(int64_t a, int64_t b, const std::string& file, const std::string& name) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) fail(file, ": tensor '", name, "': shape size overflows");
    return r;
}

}  // namespace detail

// Parses and validates the header of a whole safetensors file held in `bytes`.
inline safetensors_header parse_safetensors(std::span<const std::byte> bytes, const std::string& file) {
    using nlohmann::json;
    if (bytes.size() < 8) fail(file, ": truncated safetensors file: ", bytes.size(), " bytes, need at least 8");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
    if (n > safetensors_max_header_bytes)
        fail(file, ": header length ", n, " exceeds the limit of ", safetensors_max_header_bytes, " bytes");
    if (n > bytes.size() - 8)
        fail(file, ": header length ", n, " runs past the end of the file (", bytes.size(), " bytes)");
    if (n < 2) fail(file, ": header length ", n, " is too small for a JSON object");

    const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
    // Duplicate names are rejected: nlohmann would silently keep the last one.
    std::unordered_set<std::string> top_keys;
    std::string duplicate;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (ev == json::parse_event_t::key && depth == 1) {
            auto k = parsed.get<std::string>();
            if (!top_keys.insert(k).second && duplicate.empty()) duplicate = k;
        }
        return true;
    };
    json header;
    try {
        header = json::parse(text, text + n, cb);
    } catch (const json::exception& e) {
        fail(file, ": header is not valid JSON: ", e.what());
    }
    if (!duplicate.empty()) fail(file, ": header names tensor '", duplicate, "' twice");
    if (!header.is_object()) fail(file, ": header must be a JSON object");

    safetensors_header out;
    out.data_offset = 8 + n;
    const size_t data_size = bytes.size() - out.data_offset;
    const std::byte* data = bytes.data() + out.data_offset;

    struct span_ref {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<span_ref> spans;
    for (auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) fail(file, ": __metadata__ must be an object of strings");
            for (auto& [mk, mv] : value.items()) {
                if (!mv.is_string()) fail(file, ": __metadata__ value of '", mk, "' must be a string");
                out.metadata[mk] = mv.get<std::string>();
            }
            continue;
        }
        if (!value.is_object()) fail(file, ": tensor '", key, "': entry must be an object");
        for (auto& [field, unused] : value.items()) {
            (void)unused;
            if (field != "dtype" && field != "shape" && field != "data_offsets")
                fail(file, ": tensor '", key, "': unknown field '", field, "'");
        }
        auto dt = value.find("dtype");
        auto sh = value.find("shape");
        auto off = value.find("data_offsets");
        if (dt == value.end() || !dt->is_string()) fail(file, ": tensor '", key, "': missing or non-string 'dtype'");
        if (sh == value.end() || !sh->is_array()) fail(file, ": tensor '", key, "': missing or non-array 'shape'");
        if (off == value.end() || !off->is_array() || off->size() != 2)
            fail(file, ": tensor '", key, "': 'data_offsets' must be an array [begin, end]");
        const auto type = parse_dtype(dt->get<std::string>());
        if (!type) fail(file, ": tensor '", key, "': unknown dtype '", dt->get<std::string>(), "'");

        tensor_view t;
        t.name = key;
        t.type = *type;
        t.file = file;
        int64_t numel = 1;
        for (auto& d : *sh) {
            if (!d.is_number_unsigned()) fail(file, ": tensor '", key, "': shape entries must be non-negative integers");
            const auto v = d.get<uint64_t>();
            if (v > uint64_t(INT64_MAX)) fail(file, ": tensor '", key, "': shape entry too large");
            t.shape.push_back(static_cast<int64_t>(v));
            numel = detail::checked_mul(numel, static_cast<int64_t>(v), file, key);
        }
        for (auto& o : *off)
            if (!o.is_number_unsigned()) fail(file, ": tensor '", key, "': data_offsets must be non-negative integers");
        const auto begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
        if (end < begin) fail(file, ": tensor '", key, "': data_offsets end ", end, " is before begin ", begin);
        const int64_t expected = detail::checked_mul(numel, dtype_size(t.type), file, key);
        if (end - begin != static_cast<uint64_t>(expected))
            fail(file, ": tensor '", key, "': dtype ", dtype_name(t.type), " x shape ", t.shape_string(), " is ", expected,
                 " bytes but data_offsets span ", end - begin, " bytes");
        if (end > data_size)
            fail(file, ": tensor '", key, "': data_offsets [", begin, ", ", end, "] out of range (data buffer is ",
                 data_size, " bytes)");
        if ((out.data_offset + begin) % static_cast<uint64_t>(dtype_size(t.type)) != 0)
            fail(file, ": tensor '", key, "': data at file offset ", out.data_offset + begin, " is not aligned to its ",
                 dtype_size(t.type), "-byte elements");
        t.data = data + begin;
        t.nbytes = static_cast<size_t>(end - begin);
        spans.push_back({begin, end, out.tensors.size()});
        out.tensors.push_back(std::move(t));
    }
    std::sort(spans.begin(), spans.end(), [](const span_ref& a, const span_ref& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t covered = 0;
    for (const auto& s : spans) {
        const auto& t = out.tensors[s.index];
        if (s.begin < covered)
            fail(file, ": tensor '", t.name, "': data_offsets [", s.begin, ", ", s.end,
                 "] overlap the previous tensor (which ends at ", covered, ")");
        if (s.begin > covered)
            fail(file, ": tensor '", t.name, "': data_offsets begin ", s.begin, " leaves a hole after byte ", covered);
        covered = s.end;
    }
    if (covered != data_size)
        fail(file, ": data buffer is ", data_size, " bytes but tensors cover only ", covered,
             " (trailing bytes or a truncated header)");
    std::vector<tensor_view> ordered;
    ordered.reserve(out.tensors.size());
    for (const auto& s : spans) ordered.push_back(std::move(out.tensors[s.index]));
    out.tensors = std::move(ordered);
    return out;
}

// A mapped, validated safetensors file.
class safetensors_file {
public:
    explicit safetensors_file(const std::string& path) : map_(path) {
        header_ = parse_safetensors(map_.bytes(), path);
        for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
    }
    const std::string& path() const { return map_.path(); }
    const std::vector<tensor_view>& tensors() const { return header_.tensors; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const tensor_view* find(std::string_view name) const {
        auto it = index_.find(std::string(name));
        return it == index_.end() ? nullptr : &header_.tensors[it->second];
    }
    const tensor_view& at(std::string_view name) const {
        const tensor_view* t = find(name);
        if (!t) fail(path(), ": no tensor named '", name, "'");
        return *t;
    }

private:
    mapped_file map_;
    safetensors_header header_;
    std::unordered_map<std::string, size_t> index_;
};

}  // namespace dsv4
