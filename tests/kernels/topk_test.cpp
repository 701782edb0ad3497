// top-k: largest first, ties by lower index, k larger than n.
#include <dsv4/kernels/topk.hpp>

#include <gtest/gtest.h>

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
