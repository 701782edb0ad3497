// Reading golden prompts and expected tensors, and comparing with the documented tolerance:
// floats within 1e-4 · max|expected| over the whole tensor, integers exact.
#pragma once

#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace dsv4::testing {

// The prompts of a golden tokens.json ({"prompts": [[ids...], ...]}) at `path`.
inline std::vector<std::vector<int32_t>> prompts_of(const std::string& path) {
    return nlohmann::json::parse(read_text_file(path)).at("prompts").get<std::vector<std::vector<int32_t>>>();
}

inline std::vector<float> floats_of(const tensor_view& t) {
    const float* p = t.as<float>(dtype::f32);
    return {p, p + t.numel()};
}

inline std::vector<int64_t> ints_of(const tensor_view& t) {
    std::vector<int64_t> out(size_t(t.numel()));
    for (size_t i = 0; i < out.size(); ++i) {
        switch (t.type) {
            case dtype::i64: out[i] = reinterpret_cast<const int64_t*>(t.data)[i]; break;
            case dtype::i32: out[i] = reinterpret_cast<const int32_t*>(t.data)[i]; break;
            case dtype::u8: out[i] = reinterpret_cast<const uint8_t*>(t.data)[i]; break;
            default: ADD_FAILURE() << t.name << ": not an integer tensor"; return out;
        }
    }
    return out;
}

// The values of a contiguous float container (std::vector, xtensor) in order.
template <class C>
std::vector<float> values(const C& c) {
    return {c.data(), c.data() + c.size()};
}

// Slice [offset, offset + n) of the flat values of a float container.
template <class C>
std::vector<float> slice(const C& v, size_t offset, size_t n) {
    return {v.data() + offset, v.data() + offset + n};
}

template <class Got, class Expected>
::testing::AssertionResult close_to(const Got& got_container, const Expected& expected_container, double rel = 1e-4) {
    const std::vector<float> got = values(got_container), expected = values(expected_container);
    if (got.size() != expected.size())
        return ::testing::AssertionFailure() << "size " << got.size() << " vs expected " << expected.size();
    double max_expected = 0, max_diff = 0;
    size_t worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        max_expected = std::max(max_expected, double(std::fabs(expected[i])));
        const double d = std::fabs(double(got[i]) - double(expected[i]));
        if (!(d <= max_diff)) {
            max_diff = d;
            worst = i;
        }
    }
    if (std::getenv("DSV4_PRINT_DIFFS")) std::printf("max|diff| %.3g of max|expected| %.3g\n", max_diff, max_expected);
    if (max_diff <= rel * max_expected) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max |diff| " << max_diff << " at " << worst << " (got " << got[worst]
                                         << ", expected " << expected[worst] << "), allowed " << rel * max_expected;
}

}  // namespace dsv4::testing
