// Shared by the kernel tests: every length 0..2 vector widths + 1 and misaligned starts.
#pragma once

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

}  // namespace dsv4::testing
