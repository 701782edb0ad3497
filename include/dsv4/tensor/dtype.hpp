// dsv4/tensor/dtype.hpp — element types of stored tensors, named as safetensors names them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv4 {

enum class dtype : uint8_t {
    f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean, f8_e4m3, f8_e5m2, f8_e8m0
};

struct dtype_info {
    dtype type;
    std::string_view name;  // safetensors spelling
    int size;               // bytes per element
};

inline constexpr std::array<dtype_info, 16> dtype_table = {{
    {dtype::f64, "F64", 8},   {dtype::f32, "F32", 4},        {dtype::f16, "F16", 2},
    {dtype::bf16, "BF16", 2}, {dtype::i64, "I64", 8},        {dtype::i32, "I32", 4},
    {dtype::i16, "I16", 2},   {dtype::i8, "I8", 1},          {dtype::u64, "U64", 8},
    {dtype::u32, "U32", 4},   {dtype::u16, "U16", 2},        {dtype::u8, "U8", 1},
    {dtype::boolean, "BOOL", 1}, {dtype::f8_e4m3, "F8_E4M3", 1}, {dtype::f8_e5m2, "F8_E5M2", 1},
    {dtype::f8_e8m0, "F8_E8M0", 1},
}};

constexpr std::string_view dtype_name(dtype t) { return dtype_table[static_cast<size_t>(t)].name; }
constexpr int dtype_size(dtype t) { return dtype_table[static_cast<size_t>(t)].size; }

constexpr std::optional<dtype> parse_dtype(std::string_view name) {
    for (const auto& d : dtype_table)
        if (d.name == name) return d.type;
    return std::nullopt;
}

static_assert(dtype_name(dtype::f8_e8m0) == "F8_E8M0" && dtype_size(dtype::i64) == 8);

}  // namespace dsv4
