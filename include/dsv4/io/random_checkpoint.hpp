// dsv4/io/random_checkpoint.hpp — writes a complete random-weight checkpoint for a shape:
// every official tensor (io/tensor_names.hpp) in the shape's storage formats, plus a
// config.json in the inference spelling. Used by tests of variant configs, by the
// benchmark model (GBs, written tensor by tensor, never all in memory) and by examples.
//
// Values are scaled so activations stay O(1) through many layers (random_init_of, the one
// rule, which train::parameters::random shares): matrices uniform in ±1/sqrt(in), norms 1,
// mHC logits small, sinks/ape/bias 0-centred; FP8 and FP4 tiles are quantised from such
// floats with power-of-two (e8m0) tile scales, as a release checkpoint is. tid2eid rows hold
// k distinct experts. Deterministic for a seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/io/tensor_names.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4 {

// How the random values of a float tensor are drawn: uniform in ±range (none drawn when 0),
// then every value set to `value` when there is one.
struct random_init {
    float range = 0;
    std::optional<float> value;
};

// The rule by what a tensor is: matrices uniform in ±1/sqrt(in) (a product keeps its input's
// scale), norm weights exactly 1, the mHC gating scales 0.5, other vectors (sinks, biases,
// mHC bases) uniform in ±0.5.
inline random_init random_init_of(const tensor_desc& t) {
    using T = tensor_id;
    if (t.role == tensor_role::small_float && t.rank == 1) return {0.0f, 1.0f};
    if (t.rank == 2) return {1.0f / std::sqrt(float(t.dims[1])), std::nullopt};
    const bool hc_scale = t.id == T::hc_attn_scale || t.id == T::hc_ffn_scale || t.id == T::hc_head_scale;
    // the mHC scales are drawn before being set, which keeps every seed's checkpoint as it was
    return {0.5f, hc_scale ? std::optional<float>(0.5f) : std::nullopt};
}

// One value uniform in ±a.
inline float random_uniform(float a, std::mt19937_64& rng) { return std::uniform_real_distribution<float>(-a, a)(rng); }

// Fills v by rule r from rng.
inline void fill_random(std::span<float> v, const random_init& r, std::mt19937_64& rng) {
    if (r.range > 0)
        for (auto& x : v) x = random_uniform(r.range, rng);
    if (r.value) std::fill(v.begin(), v.end(), *r.value);
}

// A random hash-routing table (tid2eid): each of `rows` rows holds k distinct experts of n.
template <class Id>
void fill_random_expert_table(Id* table, int64_t rows, int64_t k, int64_t n, std::mt19937_64& rng) {
    std::vector<Id> perm(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
        std::iota(perm.begin(), perm.end(), Id(0));
        std::shuffle(perm.begin(), perm.end(), rng);
        std::copy(perm.begin(), perm.begin() + k, table + r * k);
    }
}

namespace detail {

struct random_filler {
    std::mt19937_64 rng;
    float uniform(float a) { return random_uniform(a, rng); }

    // Quantises uniform(±a) floats of an [out, in] matrix into FP8 codes + 128x128 e8m0 scales.
    void fp8(int64_t out, int64_t in, float a, std::vector<std::byte>& codes, std::vector<std::byte>& scales) {
        const int64_t sr = (out + 127) / 128, sc = (in + 127) / 128;
        codes.resize(size_t(out * in));
        scales.resize(size_t(sr * sc));
        for (int64_t bi = 0; bi < sr; ++bi)
            for (int64_t bj = 0; bj < sc; ++bj) {
                // tile scale so that a maps near the top of e4m3's range; varies between tiles
                const float tile_a = a * (1.0f + 0.5f * float((bi + bj) % 3));
                const uint8_t e = e8m0_ceil_code(tile_a / fp8_e4m3_max);
                scales[size_t(bi * sc + bj)] = std::byte(e);
                const float inv = 1.0f / decode_e8m0(e);
                for (int64_t r = bi * 128; r < std::min(out, (bi + 1) * 128); ++r)
                    for (int64_t c = bj * 128; c < std::min(in, (bj + 1) * 128); ++c)
                        codes[size_t(r * in + c)] = std::byte(encode_fp8_e4m3(uniform(tile_a) * inv));
            }
    }
    // FP4 packed [out, in/2] + [out, in/32] scales.
    void fp4(int64_t out, int64_t in, float a, std::vector<std::byte>& packed, std::vector<std::byte>& scales) {
        packed.assign(size_t(out * in / 2), std::byte{0});
        scales.resize(size_t(out * in / 32));
        for (int64_t r = 0; r < out; ++r)
            for (int64_t b = 0; b < in / 32; ++b) {
                const uint8_t e = e8m0_ceil_code(a / fp4_e2m1_max);
                scales[size_t(r * (in / 32) + b)] = std::byte(e);
                const float inv = 1.0f / decode_e8m0(e);
                for (int64_t c = b * 32; c < (b + 1) * 32; ++c)
                    fp4_set_code(reinterpret_cast<uint8_t*>(packed.data()) + r * (in / 2), size_t(c),
                                 encode_fp4_e2m1(uniform(a) * inv));
            }
    }
};

}  // namespace detail

// Writes `folder`/model.safetensors and config.json. The file is written tensor by tensor
// to a temporary name and renamed when complete.
inline void write_random_checkpoint(const std::string& folder, const model_shape& s, uint64_t seed) {
    namespace fs = std::filesystem;
    fs::create_directories(folder);
    auto specs = release_tensor_specs(s);
    std::stable_sort(specs.begin(), specs.end(), [](const tensor_spec& a, const tensor_spec& b) {
        return dtype_size(a.type) > dtype_size(b.type);
    });
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}, {"generator", "dsv4 random checkpoint"}, {"seed", std::to_string(seed)}};
    uint64_t offset = 0;
    for (const auto& t : specs) {
        uint64_t n = uint64_t(dtype_size(t.type));
        for (auto d : t.shape) n *= uint64_t(d);
        header[t.name] = {{"dtype", dtype_name(t.type)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8) text.push_back(' ');

    const std::string path = (fs::path(folder) / "model.safetensors").string();
    const std::string tmp = path + ".partial";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(tmp, ": cannot create");
    const uint64_t hlen = text.size();
    char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = char((hlen >> (8 * i)) & 0xFF);
    out.write(len_bytes, 8);
    out.write(text.data(), std::streamsize(text.size()));

    detail::random_filler fill{std::mt19937_64(seed)};
    std::vector<std::byte> buf, scale_buf;
    // scales are separate tensors: quantise a weight when its scale comes (weights sort first by
    // dtype size, so remember each quantised weight's scales until its scale tensor is written)
    std::map<std::string, std::vector<std::byte>> pending_scales;
    for (const auto& t : specs) {
        const random_init init = random_init_of(t.desc);
        const float a = init.range;
        int64_t numel = 1;
        for (auto d : t.shape) numel *= d;
        const std::string prefix = t.name.substr(0, t.name.rfind('.'));
        std::vector<float> v;
        switch (t.type) {
            case dtype::f32: {
                v.resize(size_t(numel));
                fill_random(v, init, fill.rng);
                buf.resize(v.size() * 4);
                std::memcpy(buf.data(), v.data(), buf.size());
                break;
            }
            case dtype::bf16: {
                v.resize(size_t(numel));
                fill_random(v, init, fill.rng);
                buf.resize(size_t(numel) * 2);
                auto* p = reinterpret_cast<uint16_t*>(buf.data());
                for (int64_t i = 0; i < numel; ++i) p[i] = encode_bf16(v[size_t(i)]);
                break;
            }
            case dtype::i64: {
                std::vector<int64_t> ids(static_cast<size_t>(numel));
                fill_random_expert_table(ids.data(), t.shape[0], t.shape[1], s.n_routed_experts, fill.rng);
                buf.resize(ids.size() * 8);
                std::memcpy(buf.data(), ids.data(), buf.size());
                break;
            }
            case dtype::f8_e4m3:
                fill.fp8(t.shape[0], t.shape[1], a, buf, scale_buf);
                pending_scales[prefix] = scale_buf;
                break;
            case dtype::i8:
                fill.fp4(t.shape[0], t.shape[1] * 2, a, buf, scale_buf);
                pending_scales[prefix] = scale_buf;
                break;
            case dtype::f8_e8m0: {
                auto it = pending_scales.find(prefix);
                if (it == pending_scales.end()) fail("random checkpoint: scale '", t.name, "' has no weight");
                buf = std::move(it->second);
                pending_scales.erase(it);
                break;
            }
            default: fail("random checkpoint: no generator for dtype ", dtype_name(t.type));
        }
        out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
    }
    out.flush();
    if (!out) {
        out.close();
        std::remove(tmp.c_str());
        fail(path, ": write failed");
    }
    out.close();
    fs::rename(tmp, path);
    std::ofstream((fs::path(folder) / "config.json").string()) << config_json_of(s).dump(2);
}

}  // namespace dsv4
