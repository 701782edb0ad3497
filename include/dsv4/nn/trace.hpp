// dsv4/nn/trace.hpp — optional recording of intermediate tensors by name.
//
// The forward pass takes a `trace*`; when it is null nothing is recorded. Each record is a
// piece of S token rows (one call) with the shape of one row; a prefill followed by decode
// steps appends, so a name holds the concatenation of every call, [total rows, row shape...].
// tensor(name) / indices(name) hand a record out as an xtensor; the names, the row shapes
// and when each is filled are listed in the README ("Intermediates").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include <dsv4/error.hpp>

namespace dsv4::nn {

struct trace {
    std::map<std::string, std::vector<float>> floats;  // flat values, in call order
    std::map<std::string, std::vector<int32_t>> ints;
    std::map<std::string, std::vector<size_t>> row_shapes;  // shape of one token row of each name

    void add(const std::string& name, const float* p, size_t rows, std::vector<size_t> row_shape) {
        size_t n = rows;
        for (size_t d : row_shape) n *= d;
        floats[name].insert(floats[name].end(), p, p + n);
        row_shapes[name] = std::move(row_shape);
    }
    void add(const std::string& name, const std::vector<int32_t>& v, std::vector<size_t> row_shape) {
        ints[name].insert(ints[name].end(), v.begin(), v.end());
        row_shapes[name] = std::move(row_shape);
    }

    // A float record as [rows, row shape...].
    xt::xarray<float> tensor(const std::string& name) const { return shaped(floats, name); }
    // An integer record (expert ids, selected entries) as [rows, row shape...].
    xt::xarray<int32_t> indices(const std::string& name) const { return shaped(ints, name); }

private:
    template <class T>
    xt::xarray<T> shaped(const std::map<std::string, std::vector<T>>& records, const std::string& name) const {
        const auto it = records.find(name);
        if (it == records.end()) fail("trace: no record named '", name, "'");
        const auto& row = row_shapes.at(name);
        size_t per_row = 1;
        for (size_t d : row) per_row *= d;
        std::vector<size_t> shape = {per_row ? it->second.size() / per_row : 0};
        shape.insert(shape.end(), row.begin(), row.end());
        xt::xarray<T> out = xt::xarray<T>::from_shape(shape);
        std::copy(it->second.begin(), it->second.end(), out.begin());
        return out;
    }
};

}  // namespace dsv4::nn
