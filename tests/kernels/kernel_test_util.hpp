// Shared by the kernel tests: every length 0..2 vector widths + 1 and misaligned starts.
#pragma once

#include <dsv4/kernels/linear.hpp>
#include <dsv4/kernels/simd.hpp>

#include <random>
#include <vector>

namespace dsv4::testing {

template <class F>
void for_each_length_and_misalignment(F&& f) {
    const size_t V = kernels::vsize;
    for (size_t n = 0; n <= 2 * V + 1; ++n)
        for (size_t misalign : {size_t(0), size_t(1), V / 2}) f(n, misalign);
    f(1000, 3);
}

inline std::vector<float> random_floats(size_t n, uint64_t seed, float a = 1.0f) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-a, a);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

// A random weight matrix in a stored format (scales included), for the linear kernel tests.
struct stored_matrix {
    std::vector<uint8_t> bytes, scales;
    kernels::linear_weight w;
};

inline stored_matrix make_matrix(dsv4::weight_format f, size_t N, size_t K, std::mt19937_64& rng) {
    stored_matrix m;
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    m.w.format = f;
    m.w.out = N;
    m.w.in = K;
    switch (f) {
        case dsv4::weight_format::f32: {
            m.bytes.resize(N * K * 4);
            auto* p = reinterpret_cast<float*>(m.bytes.data());
            for (size_t i = 0; i < N * K; ++i) p[i] = u(rng);
            break;
        }
        case dsv4::weight_format::bf16: {
            m.bytes.resize(N * K * 2);
            auto* p = reinterpret_cast<uint16_t*>(m.bytes.data());
            for (size_t i = 0; i < N * K; ++i) p[i] = dsv4::encode_bf16(u(rng));
            break;
        }
        case dsv4::weight_format::fp8_e4m3: {
            m.bytes.resize(N * K);
            for (auto& b : m.bytes) {
                do b = uint8_t(rng()); while ((b & 0x7F) == 0x7F);  // any finite code, subnormals included
            }
            m.w.scale_cols = (K + 127) / 128;
            m.scales.resize(((N + 127) / 128) * m.w.scale_cols);
            for (auto& s : m.scales) s = uint8_t(120 + rng() % 6);
            break;
        }
        case dsv4::weight_format::fp4_e2m1: {
            m.bytes.resize(N * K / 2);
            for (auto& b : m.bytes) b = uint8_t(rng());
            m.w.scale_cols = K / 32;
            m.scales.resize(N * m.w.scale_cols);
            for (auto& s : m.scales) s = uint8_t(124 + rng() % 6);
            if (m.scales.size() > 5) m.scales[5] = 0;  // 2^-127: the subnormal scale has its own path
            break;
        }
    }
    m.w.data = m.bytes.data();
    m.w.scale = m.scales.data();
    return m;
}

}  // namespace dsv4::testing
