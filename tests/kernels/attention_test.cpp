// Attention with sink against a double-precision scalar softmax, and the sink's effect by hand.
// The backward (query, rows as keys and values, sink) against a double-precision reference,
// itself against finite differences.
#include <dsv4/kernels/attention.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../support/gradcheck.hpp"
#include "kernel_test_util.hpp"

TEST(Attention, MatchesScalarSoftmaxWithSink) {
    dsv4::testing::for_each_length_and_misalignment([](size_t d, size_t off) {
        if (d == 0) return;
        for (size_t n : {1, 3, 17}) {
            auto q = dsv4::testing::random_floats(d + off, 5, 2.0f);
            std::vector<std::vector<float>> rows;
            std::vector<const float*> ptr;
            for (size_t j = 0; j < n; ++j) rows.push_back(dsv4::testing::random_floats(d + off, 10 + j, 2.0f));
            for (auto& r : rows) ptr.push_back(r.data() + off);
            const float scale = 0.3f, sink = 0.7f;
            std::vector<float> scores(n), out(d + off);
            dsv4::kernels::attend_with_sink(q.data() + off, ptr.data(), n, d, scale, sink, scores.data(), out.data() + off);
            std::vector<double> s(n);
            double m = -INFINITY, den = 0;
            for (size_t j = 0; j < n; ++j) {
                s[j] = 0;
                for (size_t k = 0; k < d; ++k) s[j] += double(q[off + k]) * rows[j][off + k];
                s[j] *= scale;
                m = std::max(m, s[j]);
            }
            for (size_t j = 0; j < n; ++j) den += std::exp(s[j] - m);
            den += std::exp(double(sink) - m);
            for (size_t k = 0; k < d; ++k) {
                double o = 0;
                for (size_t j = 0; j < n; ++j) o += std::exp(s[j] - m) * rows[j][off + k];
                ASSERT_NEAR(out[off + k], o / den, 1e-5) << d << " " << n;
            }
        }
    });
}

TEST(Attention, SinkOnlyInTheDenominator) {
    // one row, equal to q's direction: weight = e^s / (e^s + e^sink)
    const float q[2] = {1, 0}, r[2] = {2, 0};
    const float* rows[1] = {r};
    float scores[1], out[2];
    dsv4::kernels::attend_with_sink(q, rows, 1, 2, 1.0f, 2.0f, scores, out);
    EXPECT_NEAR(out[0], 2.0 * 0.5, 1e-6);  // s = 2 = sink: half the mass goes to the sink
    EXPECT_EQ(out[1], 0.0f);
}

TEST(Attention, GroupedHeadsGiveTheSingleHeadBits) {
  for (size_t d : {size_t(37), size_t(64), size_t(100), size_t(512)})
    for (size_t G : {size_t(1), size_t(3), size_t(4), size_t(5), size_t(8)}) {
    const size_t n = 21;
    auto q = dsv4::testing::random_floats(G * d, 41, 2.0f);
    std::vector<std::vector<float>> rows;
    std::vector<const float*> ptr;
    for (size_t j = 0; j < n; ++j) rows.push_back(dsv4::testing::random_floats(d, 50 + j, 2.0f));
    for (auto& r : rows) ptr.push_back(r.data());
    const float sinks[8] = {0.1f, -1.0f, 2.0f, 0.0f, 0.5f, 1.5f, -0.3f, 0.7f};
    std::vector<float> scratch(G * (n + 1)), out(G * d), one(d), scores(n);
    dsv4::kernels::attend_heads_with_sink(q.data(), d, G, ptr.data(), n, d, 0.2f, sinks, scratch.data(), out.data(), d);
    for (size_t h = 0; h < G; ++h) {
        dsv4::kernels::attend_with_sink(q.data() + h * d, ptr.data(), n, d, 0.2f, sinks[h], scores.data(), one.data());
        for (size_t k = 0; k < d; ++k) ASSERT_EQ(out[h * d + k], one[k]) << "d=" << d << " G=" << G << " head " << h << " k=" << k;
    }
    }
}

// ---- backward ----------------------------------------------------------------------------

namespace {

// attend_with_sink in double; p = [q (d), rows (n·d), sink].
std::vector<double> attention_ref(const std::vector<double>& p, size_t n, size_t d, double scale) {
    std::vector<double> s(n), o(d, 0.0);
    double m = -INFINITY, den = 0;
    for (size_t j = 0; j < n; ++j) {
        s[j] = 0;
        for (size_t k = 0; k < d; ++k) s[j] += p[k] * p[d + j * d + k];
        s[j] *= scale;
        m = std::max(m, s[j]);
    }
    for (size_t j = 0; j < n; ++j) den += std::exp(s[j] - m);
    den += std::exp(p[d + n * d] - m);
    for (size_t j = 0; j < n; ++j)
        for (size_t k = 0; k < d; ++k) o[k] += std::exp(s[j] - m) / den * p[d + j * d + k];
    return o;
}

// Its backward in double: [dq (d), drows (n·d), dsink], and the probabilities p_j.
std::vector<double> attention_backward_ref(const std::vector<double>& p, const std::vector<double>& dout, size_t n, size_t d,
                                           double scale, std::vector<double>& prob) {
    const double* q = p.data();
    auto row = [&](size_t j) { return p.data() + d + j * d; };
    std::vector<double> s(n), g(d + n * d + 1, 0.0);
    double m = -INFINITY, den = 0;
    for (size_t j = 0; j < n; ++j) {
        s[j] = 0;
        for (size_t k = 0; k < d; ++k) s[j] += q[k] * row(j)[k];
        s[j] *= scale;
        m = std::max(m, s[j]);
    }
    for (size_t j = 0; j < n; ++j) den += std::exp(s[j] - m);
    den += std::exp(p[d + n * d] - m);
    prob.assign(n, 0.0);
    std::vector<double> dp(n, 0.0);
    double delta = 0;
    for (size_t j = 0; j < n; ++j) {
        prob[j] = std::exp(s[j] - m) / den;
        for (size_t k = 0; k < d; ++k) dp[j] += dout[k] * row(j)[k];
        delta += prob[j] * dp[j];
    }
    for (size_t j = 0; j < n; ++j) {
        const double ds = prob[j] * (dp[j] - delta);  // ∂L/∂s_j
        for (size_t k = 0; k < d; ++k) {
            g[k] += ds * scale * row(j)[k];
            g[d + j * d + k] = prob[j] * dout[k] + ds * scale * q[k];
        }
    }
    g[d + n * d] = n ? -std::exp(p[d + n * d] - m) / den * delta : 0.0;
    return g;
}

}  // namespace

TEST(AttentionBackward, KernelReferenceAndFiniteDifferencesAgree) {
    dsv4::testing::gradient_errors errors;
    for (size_t d : {size_t(1), size_t(5), size_t(16), size_t(37), size_t(100)})
        for (size_t n : {size_t(1), size_t(3), size_t(17)}) {
            const size_t off = d % 3;  // misaligned starts
            auto q = dsv4::testing::random_floats(d + off, 80 + d, 2.0f), dout = dsv4::testing::random_floats(d + off, 81 + d);
            std::vector<std::vector<float>> rows;
            std::vector<const float*> ptr;
            for (size_t j = 0; j < n; ++j) rows.push_back(dsv4::testing::random_floats(d + off, 90 + j + d, 2.0f));
            for (auto& r : rows) ptr.push_back(r.data() + off);
            const float scale = 0.3f, sink = 0.7f;
            std::vector<double> p(d + n * d + 1), doutd(d);
            for (size_t k = 0; k < d; ++k) p[k] = q[off + k], doutd[k] = dout[off + k];
            for (size_t j = 0; j < n; ++j)
                for (size_t k = 0; k < d; ++k) p[d + j * d + k] = rows[j][off + k];
            p[d + n * d] = sink;
            std::vector<double> prob;
            const auto ref = attention_backward_ref(p, doutd, n, d, scale, prob);
            const auto fd = dsv4::testing::vjp_by_differences(
                [&](const std::vector<double>& v) { return attention_ref(v, n, d, scale); }, p, doutd);
            ASSERT_TRUE(errors.reference(ref, fd)) << "d=" << d << " n=" << n;

            std::vector<float> pk(n), dsc(n), dq(d + off);
            const float dsink = dsv4::kernels::attend_with_sink_backward(q.data() + off, ptr.data(), n, d, scale, sink,
                                                                         dout.data() + off, pk.data(), dsc.data(), dq.data() + off);
            // every gradient the kernel gives, assembled as the reference's: row j's is p_j·dout + dsc_j·q
            std::vector<double> got(ref.size());
            for (size_t k = 0; k < d; ++k) got[k] = dq[off + k];
            for (size_t j = 0; j < n; ++j)
                for (size_t k = 0; k < d; ++k) got[d + j * d + k] = double(pk[j]) * dout[off + k] + double(dsc[j]) * q[off + k];
            got[d + n * d] = dsink;
            ASSERT_TRUE(errors.kernel(got, ref)) << "d=" << d << " n=" << n;
            ASSERT_TRUE(errors.kernel(std::vector<double>(got.begin(), got.begin() + long(d)),
                                      std::vector<double>(ref.begin(), ref.begin() + long(d))))
                << "dq, d=" << d << " n=" << n;
            ASSERT_TRUE(errors.kernel(std::vector<double>{dsink}, std::vector<double>{ref.back()})) << "dsink, d=" << d << " n=" << n;
            ASSERT_TRUE(errors.kernel(pk, prob)) << "p, d=" << d << " n=" << n;
        }
}

TEST(AttentionBackward, NoRowsGiveZeroGradients) {
    const float q[3] = {1, 2, 3}, dout[3] = {1, 1, 1};
    float dq[3] = {7, 7, 7};
    EXPECT_EQ(dsv4::kernels::attend_with_sink_backward(q, nullptr, 0, 3, 0.5f, 1.0f, dout, nullptr, nullptr, dq), 0.0f);
    for (float v : dq) EXPECT_EQ(v, 0.0f);
}
