// dsv4/kernels/hadamard.hpp — orthonormal Walsh–Hadamard transform (Sylvester order),
// in place over n = 2^j values, scaled by n^-1/2 (the indexer's "rotate_activation").
// Backward: the normalised transform is symmetric and orthogonal, so it is its own
// transpose: the gradient is hadamard_inplace applied to the output gradient.
#pragma once

#include <cmath>
#include <cstddef>

namespace dsv4::kernels {

inline void hadamard_inplace(float* x, size_t n) noexcept {
    for (size_t h = 1; h < n; h *= 2)
        for (size_t i = 0; i < n; i += 2 * h)
            for (size_t j = i; j < i + h; ++j) {
                const float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
    const float s = 1.0f / std::sqrt(float(n));
    for (size_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace dsv4::kernels
