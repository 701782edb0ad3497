// dsv4/io/weight_tensor.hpp — any float tensor of a checkpoint by its official name, as an
// xtensor for a user to read, compare or change.
//
//   weight_view<N>(ck, name)   zero-copy: a read-only xtensor adaptor over an F32 tensor in
//                              the mapping (a dsv4::error for any other dtype)
//   dequantized<N>(ck, name)   an owned xt::xtensor<float, N> of the logical values: F32 and
//                              BF16 copied, FP8 e4m3 times its 128x128 e8m0 block scales, FP4
//                              e2m1 (two per byte, [out, in/2] stored) times its 1x32 scales.
//   expert_ids(t, n)          the expert ids of a hash-routing table (gate.tid2eid, I64 or I32)
//                              as int32, each checked to lie in [0, n)
// Decoding is exact (every code and scale is a float). The scale tensor of "<x>.weight" is
// "<x>.scale", checked for dtype and shape.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/tensor_names.hpp>
#include <dsv4/tensor/number_formats.hpp>

namespace dsv4 {

namespace detail {

template <size_t N>
std::array<size_t, N> rank_checked_shape(const tensor_view& t, const std::vector<int64_t>& logical) {
    if (logical.size() != N)
        fail(t.file, ": tensor '", t.name, "' has rank ", logical.size(), ", requested as rank ", N);
    std::array<size_t, N> shape{};
    for (size_t i = 0; i < N; ++i) shape[i] = size_t(logical[i]);
    return shape;
}

// The e8m0 scale tensor of a quantised [rows, cols] "<x>.weight", checked against its grid.
inline const uint8_t* scale_codes(const checkpoint& ck, const tensor_view& w, weight_format f, int64_t rows, int64_t cols) {
    const std::string name = scale_tensor_name(w.name);
    const tensor_view* s = ck.find(name);
    if (!s) fail(w.file, ": tensor '", w.name, "' is ", dtype_name(w.type), " but has no '", name, "' tensor");
    const auto grid = scale_grid_of(f, rows, cols);
    checkpoint::check(*s, dtype::f8_e8m0, std::vector<int64_t>{grid.rows, grid.cols});
    return reinterpret_cast<const uint8_t*>(s->data);
}

}  // namespace detail

// A read-only view of an F32 tensor where it lies in the mapped file (valid while ck lives).
template <size_t N>
auto weight_view(const checkpoint& ck, const std::string& name) {
    const tensor_view& t = ck.at(name);
    if (t.type != dtype::f32)
        fail(t.file, ": tensor '", name, "' is ", dtype_name(t.type), "; a zero-copy view needs F32 (use dequantized)");
    const auto shape = detail::rank_checked_shape<N>(t, t.shape);
    return xt::adapt(reinterpret_cast<const float*>(t.data), size_t(t.numel()), xt::no_ownership(), shape);
}

// The logical values of a float tensor, dequantised exactly into an owned xtensor.
template <size_t N>
xt::xtensor<float, N> dequantized(const checkpoint& ck, const std::string& name) {
    const tensor_view& t = ck.at(name);
    std::vector<int64_t> logical = t.shape;
    const bool fp4 = t.type == dtype::i8 || t.type == dtype::u8;
    if (fp4 && logical.size() == 2) logical[1] *= 2;
    xt::xtensor<float, N> out = xt::xtensor<float, N>::from_shape(detail::rank_checked_shape<N>(t, logical));
    float* y = out.data();
    const size_t n = out.size();
    switch (t.type) {
        case dtype::f32: std::memcpy(y, t.data, n * 4); break;
        case dtype::bf16: {
            const auto* b = reinterpret_cast<const uint16_t*>(t.data);
            for (size_t i = 0; i < n; ++i) y[i] = decode_bf16(b[i]);
            break;
        }
        case dtype::f8_e4m3: {
            if (N != 2) fail(t.file, ": tensor '", name, "': FP8 weights are 2-D");
            const int64_t rows = logical[0], cols = logical[1];
            const int64_t scale_cols = scale_grid_of(weight_format::fp8_e4m3, rows, cols).cols;
            const uint8_t* sc = detail::scale_codes(ck, t, weight_format::fp8_e4m3, rows, cols);
            const auto* codes = reinterpret_cast<const uint8_t*>(t.data);
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c)
                    y[r * cols + c] = decode_fp8_e4m3(codes[r * cols + c]) * decode_e8m0(sc[(r / 128) * scale_cols + c / 128]);
            break;
        }
        case dtype::i8:
        case dtype::u8: {
            if (N != 2 || logical[1] % 32 != 0) fail(t.file, ": tensor '", name, "': FP4 weights are 2-D with a width divisible by 32");
            const int64_t rows = logical[0], cols = logical[1];
            const uint8_t* sc = detail::scale_codes(ck, t, weight_format::fp4_e2m1, rows, cols);
            const auto* packed = reinterpret_cast<const uint8_t*>(t.data);
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c)
                    y[r * cols + c] = decode_fp4_e2m1(fp4_code_at(packed + r * (cols / 2), size_t(c))) *
                                      decode_e8m0(sc[r * (cols / 32) + c / 32]);
            break;
        }
        default: fail(t.file, ": tensor '", name, "' is ", dtype_name(t.type), ", not a float weight");
    }
    return out;
}

// The entries of an index table as int32 expert ids, each in [0, n_experts).
inline std::vector<int32_t> expert_ids(const tensor_view& t, int n_experts) {
    if (t.type != dtype::i64 && t.type != dtype::i32)
        fail(t.file, ": tensor '", t.name, "' has dtype ", dtype_name(t.type), ", expected I64 or I32");
    std::vector<int32_t> ids(size_t(t.numel()));
    for (size_t i = 0; i < ids.size(); ++i) {
        const int64_t e = t.type == dtype::i64 ? reinterpret_cast<const int64_t*>(t.data)[i]
                                               : reinterpret_cast<const int32_t*>(t.data)[i];
        if (e < 0 || e >= n_experts)
            fail(t.file, ": tensor '", t.name, "': entry ", i, " is expert ", e, ", expected [0, ", n_experts, ")");
        ids[i] = int32_t(e);
    }
    return ids;
}

}  // namespace dsv4
