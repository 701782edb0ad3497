// dsv4/nn/trace.hpp — optional recording of intermediate tensors by name.
//
// The forward pass takes a `trace*`; when it is null nothing is recorded. Tests and
// debugging tools ask for names such as "layers.0.hc_attn_pre" and compare them with the
// reference's intermediates. Recording appends, so a prefill followed by decode steps
// yields the concatenation of every call.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsv4::nn {

struct trace {
    std::map<std::string, std::vector<float>> floats;
    std::map<std::string, std::vector<int32_t>> ints;

    void add(const std::string& name, const float* p, size_t n) { floats[name].insert(floats[name].end(), p, p + n); }
    void add(const std::string& name, const std::vector<int32_t>& v) { ints[name].insert(ints[name].end(), v.begin(), v.end()); }
};

}  // namespace dsv4::nn
