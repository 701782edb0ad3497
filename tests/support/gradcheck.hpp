// Gradient checks for the backward kernels, three ways: a kernel's gradient (f32) against a
// double-precision reference backward, and that reference against central finite
// differences of a double-precision forward. Errors are relative to the largest entry of
// the expected gradient: max_i |got_i − want_i| / max_i |want_i|.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace dsv4::testing {

// max_i |got_i − want_i| / max_i |want_i| (the absolute error when want is all zero); NaN
// when any difference is NaN, so that a NaN never passes a tolerance.
template <class A, class B>
double rel_max_error(const A& got, const B& want) {
    double err = 0, mag = 0;
    for (size_t i = 0; i < std::size(want); ++i) {
        const double d = std::fabs(double(got[i]) - double(want[i]));
        if (std::isnan(d)) return d;
        err = std::max(err, d);
        mag = std::max(mag, std::fabs(double(want[i])));
    }
    return mag > 0 ? err / mag : err;
}

// Passes when got and want have one size and rel_max_error(got, want) <= tol; the failure
// names the error and the worst entry.
template <class A, class B>
::testing::AssertionResult gradient_near(const A& got, const B& want, double tol) {
    if (std::size(got) != std::size(want))
        return ::testing::AssertionFailure() << "sizes differ: " << std::size(got) << " vs " << std::size(want);
    const double e = rel_max_error(got, want);
    if (e <= tol) return ::testing::AssertionSuccess();
    size_t worst = 0;
    double wd = -1;
    for (size_t i = 0; i < std::size(want); ++i) {
        const double d = std::fabs(double(got[i]) - double(want[i]));
        if (!(d <= wd)) wd = d, worst = i;
        if (std::isnan(d)) break;
    }
    return ::testing::AssertionFailure() << "relative error " << e << " > " << tol << "; worst entry " << worst << ": "
                                         << double(got[worst]) << " vs " << double(want[worst]);
}

// ∂/∂x of L(x) = Σ_k dy_k · f(x)_k by central differences, step h·max(1, |x_i|); f maps a
// std::vector<double> to one (evaluated 2·x.size() times).
template <class F>
std::vector<double> vjp_by_differences(F&& f, std::vector<double> x, const std::vector<double>& dy, double h = 1e-6) {
    auto loss = [&](const std::vector<double>& at) {
        const std::vector<double> y = f(at);
        double s = 0;
        for (size_t k = 0; k < y.size(); ++k) s += dy[k] * y[k];
        return s;
    };
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const double x0 = x[i], step = h * std::max(1.0, std::fabs(x0));
        x[i] = x0 + step;
        const double up = loss(x);
        x[i] = x0 - step;
        const double down = loss(x);
        x[i] = x0;
        g[i] = (up - down) / (2 * step);
    }
    return g;
}

// A test's worst errors, recorded as the test properties max_error_kernel (kernel against
// reference) and max_error_reference (reference against finite differences), which
// --gtest_output=xml reports.
class gradient_errors {
public:
    template <class A, class B>
    ::testing::AssertionResult kernel(const A& got, const B& ref, double tol = 1e-5) {
        return note(kernel_, got, ref, tol);
    }
    template <class A, class B>
    ::testing::AssertionResult reference(const A& ref, const B& fd, double tol = 1e-6) {
        return note(reference_, ref, fd, tol);
    }
    ~gradient_errors() {
        record("max_error_kernel", kernel_);
        record("max_error_reference", reference_);
    }

private:
    template <class A, class B>
    static ::testing::AssertionResult note(double& worst, const A& got, const B& want, double tol) {
        if (std::size(got) == std::size(want)) worst = std::max(worst, rel_max_error(got, want));
        return gradient_near(got, want, tol);
    }
    static void record(const char* key, double v) {
        if (v < 0) return;
        std::ostringstream s;
        s.precision(3);
        s << std::scientific << v;
        ::testing::Test::RecordProperty(key, s.str());
    }
    double kernel_ = -1, reference_ = -1;
};

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace dsv4::testing
