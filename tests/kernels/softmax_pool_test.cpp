// The compressor's per-channel softmax pooling: bit for bit what nn::compress_tokens computes
// (overlapping and plain blocks, the first block's −inf padding included); its backward
// against a double-precision reference, itself against finite differences; padding gets
// weight 0 and no gradient.
#include <dsv4/kernels/softmax_pool.hpp>
#include <dsv4/nn/compressor.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(SoftmaxPool, GivesTheCompressorsBits) {
    for (int coff : {1, 2}) {
        // d = 64: whole 4-vector blocks of every target's dot, so that the entry's RMS norm has
        // no scalar tail (whose multiply-add the compiler may contract in one caller and not the
        // other) and the comparison sees the pooling alone
        const size_t r = coff == 2 ? 4 : 8, d = 64, rw = size_t(coff) * d, S = 3 * r;
        // the weights are views (nn/weights.hpp): their storage lives here
        const auto ape = dsv4::testing::random_floats(r * rw, 110, 1.0f), norm = dsv4::testing::random_floats(d, 111, 1.0f);
        dsv4::nn::compressor_weights w;
        w.ape = ape;
        w.norm = norm;
        const dsv4::nn::compressor_setup cs{0, nullptr, 1e-6f, false};  // no RoPE, no rotation
        dsv4::compressor_state st;
        st.init(int(r), int(d), coff);
        const auto K = dsv4::testing::random_floats(S * rw, 112, 2.0f), Z = dsv4::testing::random_floats(S * rw, 113, 3.0f);
        std::vector<float> entries;
        dsv4::nn::compress_tokens(w, cs, st, K.data(), Z.data(), S, 0, entries);
        ASSERT_EQ(entries.size(), 3 * d);
        for (size_t e = 0; e < 3; ++e) {
            std::vector<float> pooled(d);
            for (size_t c = 0; c < d; ++c) {
                // the pooled positions of channel c (compressor.hpp): overlap = the previous
                // block's A half (padding before block 0), then the current block's B half
                std::vector<float> score, kv;
                auto take = [&](size_t t, size_t col) {
                    score.push_back(Z[t * rw + col] + w.ape[(t % r) * rw + col]);
                    kv.push_back(K[t * rw + col]);
                };
                if (coff == 2)
                    for (size_t i = 0; i < r; ++i) {
                        if (e == 0) {
                            score.push_back(-std::numeric_limits<float>::infinity());
                            kv.push_back(0.0f);
                        } else {
                            take((e - 1) * r + i, c);
                        }
                    }
                for (size_t i = 0; i < r; ++i) take(e * r + i, coff == 2 ? d + c : c);
                pooled[c] = dsv4::kernels::softmax_pool(score.data(), kv.data(), score.size());
            }
            // (the width as the state keeps it: a constant 64 here sets off a false
            // -Waggressive-loop-optimizations in GCC 12 on the kernel's empty scalar tail)
            dsv4::kernels::rmsnorm(pooled.data(), w.norm.data(), pooled.data(), size_t(st.width), cs.norm_eps);
            for (size_t c = 0; c < d; ++c) ASSERT_EQ(pooled[c], entries[e * d + c]) << "coff=" << coff << " entry " << e << " channel " << c;
        }
    }
}

namespace {

// softmax pooling in double; p = [score (n), kv (n)].
std::vector<double> pool_ref(const std::vector<double>& p, size_t n) {
    double mx = -INFINITY, den = 0, out = 0;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, p[i]);
    for (size_t i = 0; i < n; ++i) den += std::exp(p[i] - mx);
    for (size_t i = 0; i < n; ++i) out += std::exp(p[i] - mx) / den * p[n + i];
    return {out};
}

// Its backward in double: [dscore (n), dkv (n)] = [w_i (kv_i − out) dout, w_i dout].
std::vector<double> pool_backward_ref(const std::vector<double>& p, double dout, size_t n) {
    const double out = pool_ref(p, n)[0];
    double mx = -INFINITY, den = 0;
    for (size_t i = 0; i < n; ++i) mx = std::max(mx, p[i]);
    for (size_t i = 0; i < n; ++i) den += std::exp(p[i] - mx);
    std::vector<double> g(2 * n);
    for (size_t i = 0; i < n; ++i) {
        const double w = std::exp(p[i] - mx) / den;
        g[i] = w * (p[n + i] - out) * dout;
        g[n + i] = w * dout;
    }
    return g;
}

}  // namespace

TEST(SoftmaxPoolBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    for (size_t n : {size_t(1), size_t(2), size_t(8), size_t(128), size_t(256)}) {
        const auto score = dsv4::testing::random_floats(n, 120 + n, 3.0f), kv = dsv4::testing::random_floats(n, 121 + n, 2.0f);
        const float dout = 0.7f;
        std::vector<double> p(2 * n);
        for (size_t i = 0; i < n; ++i) p[i] = score[i], p[n + i] = kv[i];
        const auto ref = pool_backward_ref(p, dout, n);
        const auto fd = dsv4::testing::vjp_by_differences([&](const std::vector<double>& v) { return pool_ref(v, n); }, p,
                                                          std::vector<double>{dout});
        ASSERT_TRUE(errors.reference(ref, fd)) << "n=" << n;

        std::vector<float> dscore(n), dkv(n);
        dsv4::kernels::softmax_pool_backward(score.data(), kv.data(), n, dout, dscore.data(), dkv.data());
        std::vector<double> got(2 * n);
        for (size_t i = 0; i < n; ++i) got[i] = dscore[i], got[n + i] = dkv[i];
        ASSERT_TRUE(errors.kernel(got, ref)) << "n=" << n;
        ASSERT_NEAR(dsv4::kernels::softmax_pool(score.data(), kv.data(), n), pool_ref(p, n)[0], 1e-6) << "n=" << n;
    }
}

TEST(SoftmaxPoolBackward, PaddingHasNoWeightAndNoGradient) {
    // 4 padded positions (score −inf, value 0) before 4 real ones: the same bits as the real
    // ones alone, and exactly 0 for the padding.
    const float ninf = -std::numeric_limits<float>::infinity();
    const auto real_score = dsv4::testing::random_floats(4, 130, 3.0f), real_kv = dsv4::testing::random_floats(4, 131, 2.0f);
    std::vector<float> score = {ninf, ninf, ninf, ninf}, kv = {0, 0, 0, 0};
    score.insert(score.end(), real_score.begin(), real_score.end());
    kv.insert(kv.end(), real_kv.begin(), real_kv.end());
    EXPECT_EQ(dsv4::kernels::softmax_pool(score.data(), kv.data(), 8), dsv4::kernels::softmax_pool(real_score.data(), real_kv.data(), 4));
    std::vector<float> dscore(8, 9.0f), dkv(8, 9.0f), ds4(4), dkv4(4);
    dsv4::kernels::softmax_pool_backward(score.data(), kv.data(), 8, -1.5f, dscore.data(), dkv.data());
    dsv4::kernels::softmax_pool_backward(real_score.data(), real_kv.data(), 4, -1.5f, ds4.data(), dkv4.data());
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(dscore[i], 0.0f) << i;
        EXPECT_EQ(dkv[i], 0.0f) << i;
        EXPECT_EQ(dscore[4 + i], ds4[i]) << i;
        EXPECT_EQ(dkv[4 + i], dkv4[i]) << i;
    }
}
