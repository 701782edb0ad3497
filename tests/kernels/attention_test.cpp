// Attention with sink against a double-precision scalar softmax, and the sink's effect by hand.
#include <dsv4/kernels/attention.hpp>

#include <gtest/gtest.h>

#include <cmath>

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
