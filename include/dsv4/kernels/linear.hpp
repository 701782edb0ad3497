// dsv4/kernels/linear.hpp — y = x · Wᵀ for weights in their stored format.
//
//   x: [M, K] f32 rows (row stride ldx), W: [N, K] (PyTorch layout), y: [M, N'] (stride ldy)
//   formats: f32, bf16, fp8 e4m3 with one e8m0 scale per 128x128 tile ([ceil(N/128), ceil(K/128)]),
//            fp4 e2m1 packed two per byte with one e8m0 scale per 32 inputs of a row ([N, K/32]).
//
// Dequantisation is fused: one weight row at a time is expanded into a K-float scratch
// (L1-resident) and reused for all M activation rows, never a whole-matrix copy. Each
// output element is one dot product in a fixed order, so splitting [n0, n1) over threads
// gives bit-identical results. No activation quantisation: the math is the float math of
// the architecture (what the golden data holds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <dsv4/config/config.hpp>
#include <dsv4/kernels/simd.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4::kernels {

// A weight matrix as stored (a view into the checkpoint mapping).
struct linear_weight {
    weight_format format = weight_format::f32;
    const void* data = nullptr;
    const uint8_t* scale = nullptr;  // e8m0 codes (fp8 / fp4 only)
    size_t out = 0;                  // N
    size_t in = 0;                   // K
    size_t scale_cols = 0;           // fp8: ceil(K/128); fp4: K/32

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

// Row n of W as f32 in dst[0, K) (or a pointer straight into W for f32 storage).
inline const float* weight_row(const linear_weight& w, size_t n, float* __restrict dst) noexcept {
    const size_t K = w.in;
    switch (w.format) {
        case weight_format::f32: return static_cast<const float*>(w.data) + n * K;
        case weight_format::bf16: {
            const auto* src = static_cast<const uint16_t*>(w.data) + n * K;
            for (size_t k = 0; k < K; ++k) dst[k] = decode_bf16(src[k]);
            return dst;
        }
        case weight_format::fp8_e4m3: {
            const auto* src = static_cast<const uint8_t*>(w.data) + n * K;
            const uint8_t* srow = w.scale + (n / 128) * w.scale_cols;
            for (size_t kb = 0; kb < K; kb += 128) {
                const float s = decode_e8m0(srow[kb / 128]);
                const size_t end = kb + 128 < K ? kb + 128 : K;
                for (size_t k = kb; k < end; ++k) dst[k] = fp8_e4m3_table[src[k]] * s;
            }
            return dst;
        }
        case weight_format::fp4_e2m1: {
            const auto* src = static_cast<const uint8_t*>(w.data) + n * (K / 2);
            const uint8_t* srow = w.scale + n * w.scale_cols;
            for (size_t kb = 0; kb < K; kb += 32) {
                const float s = decode_e8m0(srow[kb / 32]);
                for (size_t k = kb; k < kb + 32; k += 2) {
                    const uint8_t byte = src[k / 2];
                    dst[k] = fp4_e2m1_table[byte & 0xF] * s;
                    dst[k + 1] = fp4_e2m1_table[byte >> 4] * s;
                }
            }
            return dst;
        }
    }
    return dst;
}

// y[m*ldy + (n - n0)] = x[m] · W[n] for m < M, n in [n0, n1). scratch: K floats.
inline void linear_rows(const float* x, size_t ldx, size_t M, const linear_weight& w, size_t n0, size_t n1, float* y,
                        size_t ldy, float* scratch) noexcept {
    const size_t K = w.in;
    for (size_t n = n0; n < n1; ++n) {
        const float* row = weight_row(w, n, scratch);
        for (size_t m = 0; m < M; ++m) y[m * ldy + (n - n0)] = dot(x + m * ldx, row, K);
    }
}

// Plain scalar reference (double accumulation): the oracle of the kernel tests.
inline void linear_reference(const float* x, size_t M, const linear_weight& w, float* y) {
    std::vector<float> row(w.in);
    for (size_t n = 0; n < w.out; ++n) {
        const float* r = weight_row(w, n, row.data());
        for (size_t m = 0; m < M; ++m) {
            double s = 0;
            for (size_t k = 0; k < w.in; ++k) s += double(x[m * w.in + k]) * double(r[k]);
            y[m * w.out + n] = float(s);
        }
    }
}

}  // namespace dsv4::kernels
