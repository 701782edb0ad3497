// dsv4/io/checkpoint.hpp — a checkpoint folder: one or more safetensors shards, looked
// up by tensor name with the dtype and shape the caller expects.
//
// With `model.safetensors.index.json` the shards are the files its "weight_map" names;
// each named tensor must be in its shard, and a shard may hold no tensor the index does
// not list. Without an index, `model.safetensors` is the checkpoint, or else every
// `model*.safetensors` file is a shard (a name in two shards is an error); other
// .safetensors files in the folder (e.g. reference outputs) are not part of it. Tensors stay in the mapped files (zero copy).
//
// checkpoint::in_memory makes one of named tensors in the caller's memory instead (weights
// being trained, train/parameters.hpp): the same lookups and checks, no file; the caller's
// memory must outlive it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/error.hpp>
#include <dsv4/io/safetensors.hpp>

namespace dsv4 {

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    std::ostringstream os;
    os << in.rdbuf();
    if (in.bad()) fail(path, ": read error");
    return os.str();
}

// Parses a model.safetensors.index.json text into tensor name -> shard file name.
inline std::map<std::string, std::string> parse_shard_index(std::string_view text, const std::string& file) {
    using nlohmann::json;
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(file, ": not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(file, ": must be a JSON object");
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object()) fail(file, ": missing object 'weight_map'");
    std::map<std::string, std::string> out;
    for (auto& [name, shard] : wm->items()) {
        if (!shard.is_string()) fail(file, ": weight_map entry '", name, "' must be a file name string");
        const auto s = shard.get<std::string>();
        if (s.empty() || s.find('/') != std::string::npos || s == "." || s == "..")
            fail(file, ": weight_map entry '", name, "' names '", s, "', expected a file name in the same folder");
        out.emplace(name, s);
    }
    if (out.empty()) fail(file, ": weight_map is empty");
    return out;
}

class checkpoint {
public:
    explicit checkpoint(const std::string& folder) : folder_(folder) {
        namespace fs = std::filesystem;
        if (!fs::is_directory(folder)) fail(folder, ": not a checkpoint folder");
        const fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
        if (fs::exists(index_path)) {
            const auto index = parse_shard_index(read_text_file(index_path.string()), index_path.string());
            std::map<std::string, size_t> shard_ids;
            for (const auto& [name, shard] : index) {
                auto [it, inserted] = shard_ids.emplace(shard, shards_.size());
                if (inserted) {
                    const fs::path p = fs::path(folder) / shard;
                    if (!fs::exists(p))
                        fail(index_path.string(), ": shard '", shard, "' (holding tensor '", name, "') does not exist");
                    shards_.push_back(std::make_unique<safetensors_file>(p.string()));
                }
                const auto& file = *shards_[it->second];
                const tensor_view* t = file.find(name);
                if (!t) fail(file.path(), ": tensor '", name, "' listed in ", index_path.string(), " is missing");
                by_name_.emplace(name, t);
            }
            for (const auto& s : shards_)
                for (const auto& t : s->tensors())
                    if (!index.count(t.name))
                        fail(s->path(), ": tensor '", t.name, "' is not listed in ", index_path.string());
        } else {
            std::vector<fs::path> files;
            if (fs::exists(fs::path(folder) / "model.safetensors")) {
                files.push_back(fs::path(folder) / "model.safetensors");
            } else {
                for (const auto& e : fs::directory_iterator(folder)) {
                    const auto name = e.path().filename().string();
                    if (e.is_regular_file() && e.path().extension() == ".safetensors" && name.rfind("model", 0) == 0)
                        files.push_back(e.path());
                }
            }
            std::sort(files.begin(), files.end());
            if (files.empty()) fail(folder, ": no model*.safetensors files and no model.safetensors.index.json");
            for (const auto& p : files) {
                shards_.push_back(std::make_unique<safetensors_file>(p.string()));
                for (const auto& t : shards_.back()->tensors()) {
                    auto [it, inserted] = by_name_.emplace(t.name, &t);
                    if (!inserted) fail(p.string(), ": tensor '", t.name, "' also appears in ", it->second->file);
                }
            }
        }
    }

    // A checkpoint of tensors that live in the caller's memory (each tensor_view's data, which
    // must outlive it); `label` stands for the folder in messages and in each view's file.
    // Names must be unique, and each view's bytes must match its dtype and shape and be
    // aligned to its element size, as a file's are.
    static std::unique_ptr<checkpoint> in_memory(const std::string& label, std::vector<tensor_view> tensors) {
        std::unique_ptr<checkpoint> ck(new checkpoint());
        ck->folder_ = label;
        ck->in_memory_ = true;
        ck->memory_tensors_ = std::move(tensors);
        for (auto& t : ck->memory_tensors_) {
            t.file = label;
            const size_t need = size_t(t.numel()) * size_t(dtype_size(t.type));
            if (t.nbytes != need)
                fail(label, ": tensor '", t.name, "' has ", t.nbytes, " bytes, its dtype and shape need ", need);
            if (need > 0 && t.data == nullptr) fail(label, ": tensor '", t.name, "' has no data");
            if (reinterpret_cast<uintptr_t>(t.data) % size_t(dtype_size(t.type)) != 0)
                fail(label, ": tensor '", t.name, "' is not aligned to its ", dtype_size(t.type), "-byte elements");
            auto [it, inserted] = ck->by_name_.emplace(t.name, &t);
            if (!inserted) fail(label, ": tensor '", t.name, "' appears twice");
        }
        return ck;
    }

    // The folder read, or an in-memory checkpoint's label.
    const std::string& folder() const { return folder_; }
    bool in_memory() const { return in_memory_; }
    size_t size() const { return by_name_.size(); }
    const std::vector<std::unique_ptr<safetensors_file>>& shards() const { return shards_; }

    const tensor_view* find(std::string_view name) const {
        auto it = by_name_.find(std::string(name));
        return it == by_name_.end() ? nullptr : it->second;
    }
    const tensor_view& at(std::string_view name) const {
        const tensor_view* t = find(name);
        if (!t) fail(folder_, ": checkpoint has no tensor '", name, "'");
        return *t;
    }
    // The tensor `name`, which must have dtype `type` and exactly `shape`.
    const tensor_view& at(std::string_view name, dtype type, std::span<const int64_t> shape) const {
        const tensor_view& t = at(name);
        check(t, type, shape);
        return t;
    }
    const tensor_view& at(std::string_view name, dtype type, std::initializer_list<int64_t> shape) const {
        return at(name, type, std::span<const int64_t>(shape.begin(), shape.size()));
    }
    static void check(const tensor_view& t, dtype type, std::span<const int64_t> shape) {
        if (t.type != type)
            fail(t.file, ": tensor '", t.name, "' has dtype ", dtype_name(t.type), ", expected ", dtype_name(type));
        if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end())) {
            std::string want = "[";
            for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
            fail(t.file, ": tensor '", t.name, "' has shape ", t.shape_string(), ", expected ", want, "]");
        }
    }
    // Every tensor name, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [n, t] : by_name_) out.push_back(n);
        std::sort(out.begin(), out.end());
        return out;
    }
    size_t total_bytes() const {
        size_t s = 0;
        for (const auto& [n, t] : by_name_) s += t->nbytes;
        return s;
    }

private:
    checkpoint() = default;

    std::string folder_;
    bool in_memory_ = false;
    std::vector<std::unique_ptr<safetensors_file>> shards_;
    std::vector<tensor_view> memory_tensors_;  // in_memory: the views (their data is the caller's)
    std::unordered_map<std::string, const tensor_view*> by_name_;
};

}  // namespace dsv4
