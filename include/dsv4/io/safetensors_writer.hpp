// dsv4/io/safetensors_writer.hpp — writes a safetensors file, all or nothing.
//
// Tensors are laid out widest dtype first (then by name) so every tensor is aligned to
// its element size, the header is padded with spaces to a multiple of 8, and the file is
// written to a temporary name in the same folder and renamed into place only when
// complete: a failure never leaves a partial file under the target name.
#pragma once

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/error.hpp>
#include <dsv4/tensor/dtype.hpp>

namespace dsv4 {

struct tensor_to_write {
    std::string name;
    dtype type = dtype::f32;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;

    template <class T>
    static tensor_to_write from(std::string name, dtype type, std::vector<int64_t> shape, const std::vector<T>& values) {
        tensor_to_write t{std::move(name), type, std::move(shape), {}};
        t.bytes.resize(values.size() * sizeof(T));
        // memcpy with a null pointer is undefined even for 0 bytes (an empty vector has no data())
        if (!t.bytes.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
        return t;
    }
};

// The complete file image (header + data), for writing or for tests that corrupt it.
inline std::vector<std::byte> safetensors_image(std::vector<tensor_to_write> tensors,
                                                const std::map<std::string, std::string>& metadata = {}) {
    std::stable_sort(tensors.begin(), tensors.end(), [](const tensor_to_write& a, const tensor_to_write& b) {
        if (dtype_size(a.type) != dtype_size(b.type)) return dtype_size(a.type) > dtype_size(b.type);
        return a.name < b.name;
    });
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    size_t offset = 0;
    for (const auto& t : tensors) {
        int64_t numel = 1;
        for (auto d : t.shape) numel *= d;
        DSV4_CHECK(size_t(numel) * size_t(dtype_size(t.type)) == t.bytes.size(), "safetensors writer: tensor '", t.name,
                   "' has ", t.bytes.size(), " bytes, its dtype and shape need ", numel * dtype_size(t.type));
        header[t.name] = {{"dtype", dtype_name(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');
    std::vector<std::byte> out(8 + text.size() + offset);
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = std::byte((n >> (8 * i)) & 0xFF);
    std::memcpy(out.data() + 8, text.data(), text.size());
    size_t pos = 8 + text.size();
    for (const auto& t : tensors) {
        if (!t.bytes.empty()) std::memcpy(out.data() + pos, t.bytes.data(), t.bytes.size());
        pos += t.bytes.size();
    }
    return out;
}

// Writes bytes to `path` through a temporary file and an atomic rename.
inline void write_file_atomically(const std::string& path, const std::vector<std::byte>& bytes) {
    const std::string tmp = path + ".partial";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail(path, ": cannot create ", tmp);
        out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            std::remove(tmp.c_str());
            fail(path, ": write failed");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        fail(path, ": cannot rename the finished file into place: ", ec.message());
    }
}

inline void write_safetensors(const std::string& path, std::vector<tensor_to_write> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    write_file_atomically(path, safetensors_image(std::move(tensors), metadata));
}

}  // namespace dsv4
