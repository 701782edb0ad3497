// dsv4/kernels/linear_weight.hpp — a weight matrix as stored, and how its input is rounded.
#pragma once

#include <cstddef>
#include <cstdint>

#include <dsv4/tensor/number_formats.hpp>

namespace dsv4::kernels {

// What a product does to its activations before multiplying (see act_quant.hpp).
enum class input_rounding : uint8_t {
    none,        // f32 activations: the float math of the architecture (the default, what the golden data holds)
    fp8_blocks,  // the official inference's act_quant: e4m3 per 128-block with a power-of-two scale (FP8/FP4 weights)
    bf16,        // round to bf16, nearest even (BF16 weights: the official inference's activations are bf16)
};

// A weight matrix as stored (a view into the checkpoint mapping), W: [out, in].
struct linear_weight {
    weight_format format = weight_format::f32;
    const void* data = nullptr;
    const uint8_t* scale = nullptr;  // e8m0 codes (fp8 / fp4 only)
    size_t out = 0;                  // N
    size_t in = 0;                   // K
    size_t scale_cols = 0;           // fp8: ceil(K/128); fp4: K/32
    input_rounding input = input_rounding::none;

    bool empty() const { return data == nullptr; }
    // bytes read by one pass over the weight (with scales)
    size_t bytes() const {
        switch (format) {
            case weight_format::f32: return out * in * 4;
            case weight_format::bf16: return out * in * 2;
            case weight_format::fp8_e4m3: return out * in + ((out + 127) / 128) * scale_cols;
            case weight_format::fp4_e2m1: return out * in / 2 + out * scale_cols;
        }
        return 0;
    }
};

// The rounding the official inference applies to the input of a product with this format.
constexpr input_rounding reference_input_rounding(weight_format f) noexcept {
    switch (f) {
        case weight_format::fp8_e4m3:
        case weight_format::fp4_e2m1: return input_rounding::fp8_blocks;
        case weight_format::bf16: return input_rounding::bf16;
        case weight_format::f32: return input_rounding::none;
    }
    return input_rounding::none;
}

}  // namespace dsv4::kernels
