// top-k: largest first, ties by lower index, k larger than n.
#include <dsv4/kernels/topk.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <vector>

TEST(TopK, OrderTiesAndShortInputs) {
    const float s[6] = {0.5f, 2.0f, 2.0f, -1.0f, 3.0f, 2.0f};
    std::vector<int32_t> out;
    dsv4::kernels::topk_indices(s, 6, 3, out);
    EXPECT_EQ(out, (std::vector<int32_t>{4, 1, 2}));
    dsv4::kernels::topk_indices(s, 6, 10, out);
    EXPECT_EQ(out, (std::vector<int32_t>{4, 1, 2, 5, 0, 3}));
    dsv4::kernels::topk_indices(s, 0, 3, out);
    EXPECT_TRUE(out.empty());
}

// Many ties among many entries (the indexer's 16K scores with k = 512): exactly the first k
// of all indices sorted by (score descending, index ascending).
TEST(TopK, MatchesAFullSortWithManyTies) {
    std::vector<float> s(5000);
    uint64_t r = 12345;
    for (auto& v : s) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        v = float((r >> 33) % 40) * 0.25f;
    }
    std::vector<int32_t> all(s.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = int32_t(i);
    std::sort(all.begin(), all.end(), [&](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
    for (int k : {1, 17, 512, 4999, 5000}) {
        std::vector<int32_t> out;
        dsv4::kernels::topk_indices(s.data(), int(s.size()), k, out);
        EXPECT_EQ(out, std::vector<int32_t>(all.begin(), all.begin() + k)) << "k=" << k;
    }
}

// NaN scores rank below every number (ties among them by index), so selection stays defined.
TEST(TopK, NaNScoresRankLast) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> s(100, 1.0f);
    for (size_t i = 0; i < s.size(); i += 3) s[i] = nan;
    s[50] = 2.0f;
    s[10] = -std::numeric_limits<float>::infinity();
    std::vector<int32_t> out;
    dsv4::kernels::topk_indices(s.data(), int(s.size()), 70, out);
    ASSERT_EQ(out.size(), 70u);
    EXPECT_EQ(out[0], 50);
    for (size_t j = 1; j < 65; ++j) EXPECT_EQ(s[size_t(out[j])], 1.0f) << j;  // the 64 ones
    // then -inf (10) and the NaNs (0, 3, 6, 9, ...) tie as -inf, ordered by index
    EXPECT_EQ(std::vector<int32_t>(out.begin() + 65, out.end()), (std::vector<int32_t>{0, 3, 6, 9, 10}));
}

// Against the plain definition (sort by score descending, ties by index; NaN as -inf, -0 as
// +0) on scores drawn from a small set with ±0, ±inf and NaN, for several n and k; the
// ascending variant gives the same set in index order.
TEST(TopK, MatchesThePlainDefinitionWithSpecialValues) {
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, std::numeric_limits<float>::quiet_NaN(), 1.5f, -1.5f, 3.0f};
    uint64_t r = 99;
    for (int n : {1, 2, 7, 100, 3000})
        for (int k : {0, 1, 5, 64, 2999, 4000}) {
            std::vector<float> s(static_cast<size_t>(n));
            for (auto& v : s) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                v = specials[(r >> 33) % 8];
            }
            auto key = [&](int32_t i) { return std::isnan(s[size_t(i)]) ? -INFINITY : s[size_t(i)]; };
            std::vector<int32_t> all(s.size());
            for (size_t i = 0; i < all.size(); ++i) all[i] = int32_t(i);
            std::sort(all.begin(), all.end(), [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
            const size_t kk = size_t(std::min(k, n));
            std::vector<int32_t> want(all.begin(), all.begin() + long(kk)), out, asc;
            dsv4::kernels::topk_indices(s.data(), n, k, out);
            ASSERT_EQ(out, want) << "n=" << n << " k=" << k;
            dsv4::kernels::topk_indices_ascending(s.data(), n, k, asc);
            std::sort(want.begin(), want.end());
            ASSERT_EQ(asc, want) << "n=" << n << " k=" << k;
        }
}

// The best k of a long list equal the best k of the parts' best k, merged (the decode path
// splits the indexer's list over the threads).
TEST(TopK, PartsThenMergeGiveTheSameSet) {
    std::vector<float> s(20000);
    uint64_t r = 7;
    for (auto& v : s) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        v = float((r >> 33) % 3000) * 0.01f;  // many ties
    }
    for (int parts : {1, 2, 3, 7})
        for (int k : {1, 100, 512}) {
            std::vector<uint64_t> merged, keys;
            for (int p = 0; p < parts; ++p) {
                const int i0 = int(s.size()) * p / parts, i1 = int(s.size()) * (p + 1) / parts;
                dsv4::kernels::best_rank_keys(s.data() + i0, i1 - i0, k, i0, keys);
                merged.insert(merged.end(), keys.begin(), keys.end());
            }
            std::vector<int32_t> got, want;
            dsv4::kernels::indices_of_best_ascending(merged, k, got);
            dsv4::kernels::topk_indices_ascending(s.data(), int(s.size()), k, want);
            ASSERT_EQ(got, want) << "parts=" << parts << " k=" << k;
        }
}
