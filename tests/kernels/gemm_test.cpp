// gemm_block and nn::gemm against a double-precision reference for every transpose
// combination, beta 0 and 1, edge sizes (0, 1, around the micro-tile 8x32 / 6x16 and past the
// KC, MC and NC blocks), row strides wider than the rows and misaligned starts; then the
// determinism contract: any split of C into blocks, and 1 or 2 threads, give the same bits.
#include <dsv4/kernels/gemm.hpp>
#include <dsv4/nn/ops.hpp>

#include "kernel_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

using dsv4::kernels::gemm_block;
using dsv4::kernels::transpose;

constexpr transpose both[] = {transpose::no, transpose::yes};

std::string name(transpose ta, transpose tb, size_t M, size_t N, size_t K, float beta) {
    return std::string(ta == transpose::yes ? "t" : "n") + (tb == transpose::yes ? "t" : "n") + " M=" + std::to_string(M) +
           " N=" + std::to_string(N) + " K=" + std::to_string(K) + " beta=" + std::to_string(int(beta));
}

// Operands of one product, stored as the transposes say, with `pad` extra elements per row
// and starting `misalign` elements into their buffers.
struct operands {
    size_t lda, ldb, ldc;
    std::vector<float> a, b, c;
    const float* A() const { return a.data() + misalign; }
    const float* B() const { return b.data() + misalign; }
    size_t misalign;
};

operands make(transpose ta, transpose tb, size_t M, size_t N, size_t K, size_t pad, size_t misalign, uint64_t seed) {
    operands o;
    o.misalign = misalign;
    o.lda = (ta == transpose::no ? K : M) + pad;
    o.ldb = (tb == transpose::no ? N : K) + pad;
    o.ldc = N + pad;
    o.a = dsv4::testing::random_floats(misalign + (ta == transpose::no ? M : K) * o.lda, seed);
    o.b = dsv4::testing::random_floats(misalign + (tb == transpose::no ? K : N) * o.ldb, seed + 1);
    o.c = dsv4::testing::random_floats(M * o.ldc, seed + 2, 4.0f);
    return o;
}

// got against gemm_reference (double sums), per element within 2(K + 1) f32 roundings of the
// sum of magnitudes it adds up (each step of the chain rounds once with FMA, twice as a
// multiply and an add where the target has none; the reference's result once): a rigorous
// bound that a missing, doubled or misplaced product still exceeds. The magnitudes are the
// reference product of |A|, |B| and |C|.
void expect_close(transpose ta, transpose tb, size_t M, size_t N, size_t K, const operands& o, float beta,
                  const std::vector<float>& c_before, const std::vector<float>& got) {
    const auto absolute = [](std::vector<float> v) {
        for (auto& x : v) x = std::fabs(x);
        return v;
    };
    std::vector<float> ref = c_before, mag = absolute(c_before);
    const std::vector<float> abs_a = absolute(o.a), abs_b = absolute(o.b);
    dsv4::kernels::gemm_reference(ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, ref.data(), o.ldc);
    dsv4::kernels::gemm_reference(ta, tb, M, N, K, abs_a.data() + o.misalign, o.lda, abs_b.data() + o.misalign, o.ldb, beta,
                                  mag.data(), o.ldc);
    for (size_t i = 0; i < M; ++i)
        for (size_t j = 0; j < N; ++j) {
            const size_t at = i * o.ldc + j;
            const double tol = 2.0 * double(K + 1) * 0x1p-24 * double(mag[at]) + 1e-30;
            ASSERT_LE(std::fabs(double(got[at]) - double(ref[at])), tol)
                << name(ta, tb, M, N, K, beta) << " at (" << i << ", " << j << "): " << got[at] << " vs " << ref[at];
        }
}

// One product through gemm_block on the whole of C; checks it and leaves C out of place (the
// padding columns of C must stay untouched).
void check_one(transpose ta, transpose tb, size_t M, size_t N, size_t K, float beta, size_t pad, size_t misalign) {
    auto o = make(ta, tb, M, N, K, pad, misalign, M * 1000003 + N * 1009 + K);
    const auto before = o.c;
    if (beta == 0.0f)  // beta 0 must not read C: fill it with NaN
        for (size_t i = 0; i < M; ++i)
            std::fill_n(o.c.begin() + ptrdiff_t(i * o.ldc), N, std::numeric_limits<float>::quiet_NaN());
    gemm_block(ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, o.c.data(), o.ldc, 0, M, 0, N);
    expect_close(ta, tb, M, N, K, o, beta, before, o.c);
    for (size_t i = 0; i < M; ++i)
        for (size_t j = N; j < o.ldc; ++j) ASSERT_EQ(o.c[i * o.ldc + j], before[i * o.ldc + j]) << "padding of C written";
}

TEST(Gemm, EdgeSizesEveryTransposeAndBeta) {
    for (transpose ta : both)
        for (transpose tb : both)
            for (float beta : {0.0f, 1.0f})
                for (size_t M : {0, 1, 5, 7, 8, 9, 17, 33})
                    for (size_t N : {0, 1, 7, 15, 16, 17, 33, 40})
                        for (size_t K : {0, 1, 2, 7, 16, 17, 33}) check_one(ta, tb, M, N, K, beta, 0, 0);
}

TEST(Gemm, StridesMisalignmentAndDepthBlocks) {
    // K of three, two and one depth blocks (KC 384), rows past an A block (MC 128 / 96), odd strides
    for (transpose ta : both)
        for (transpose tb : both)
            for (float beta : {0.0f, 1.0f}) {
                check_one(ta, tb, 9, 35, 777, beta, 3, 1);
                check_one(ta, tb, 37, 70, 400, beta, 1, 3);
                check_one(ta, tb, 150, 41, 260, beta, 5, 2);
            }
}

TEST(Gemm, ColumnsPastAPackedBBlock) {
    // N past the packed B block (NC = 1024 columns on AVX-512, 512 on AVX2, 256 on SSE / NEON), partial sliver
    for (transpose ta : both)
        for (transpose tb : both) check_one(ta, tb, 10, 2100, 40, 1.0f, 2, 1);
}

// The same product computed whole and as blocks of C (as threads would split it): the same bits.
TEST(Gemm, AnyBlockSplitGivesTheSameBits) {
    const size_t M = 45, N = 77, K = 530;
    for (transpose ta : both)
        for (transpose tb : both)
            for (float beta : {0.0f, 1.0f}) {
                auto o = make(ta, tb, M, N, K, 2, 1, 11);
                auto whole = o.c;
                gemm_block(ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, whole.data(), o.ldc, 0, M, 0, N);
                const std::pair<size_t, size_t> blocks[] = {{1, 1}, {5, 3}, {8, 32}, {13, 40}, {44, 76}, {20, 1}};
                for (auto [ms, ns] : blocks) {
                    auto split = o.c;
                    for (size_t m0 = 0; m0 < M; m0 += ms)
                        for (size_t n0 = 0; n0 < N; n0 += ns)
                            gemm_block(ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, split.data(), o.ldc, m0, m0 + ms,
                                       n0, n0 + ns);
                    ASSERT_EQ(0, std::memcmp(split.data(), whole.data(), whole.size() * sizeof(float)))
                        << name(ta, tb, M, N, K, beta) << " blocks " << ms << "x" << ns;
                }
            }
}

// nn::gemm on 1 and 2 threads: the same bits, for square, skinny (M small, N large) and
// deep (K large, C small: a weight gradient's shape) products; the 2-thread run must really split C.
TEST(Gemm, ThreadCountDoesNotChangeABit) {
    const dsv4::context one(1), two(2);
    for (auto [M, N, K] : std::vector<std::tuple<size_t, size_t, size_t>>{
             {200, 300, 100}, {7, 2000, 300}, {64, 64, 2048}, {300, 9, 1000}, {129, 257, 65}})
        for (transpose ta : both)
            for (transpose tb : both)
                for (float beta : {0.0f, 1.0f}) {
                    const auto [mt, nt] = dsv4::nn::gemm_tiles(M, N, K, 2);
                    ASSERT_GT((M + mt - 1) / mt * ((N + nt - 1) / nt), 1u) << name(ta, tb, M, N, K, beta) << ": one tile";
                    auto o = make(ta, tb, M, N, K, 0, 0, 5);
                    auto c1 = o.c, c2 = o.c;
                    dsv4::nn::gemm(one, ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, c1.data(), o.ldc);
                    dsv4::nn::gemm(two, ta, tb, M, N, K, o.A(), o.lda, o.B(), o.ldb, beta, c2.data(), o.ldc);
                    ASSERT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float))) << name(ta, tb, M, N, K, beta);
                    expect_close(ta, tb, M, N, K, o, beta, o.c, c2);
                }
}

TEST(Gemm, NnGemmRejectsBadArgumentsByName) {
    const dsv4::context ctx(1);
    std::vector<float> a(64), b(64), c(64);
    const auto message = [&](auto&& call) -> std::string {
        try {
            call();
        } catch (const dsv4::error& e) {
            return e.what();
        }
        return "no error";
    };
    const auto no = transpose::no, yes = transpose::yes;
    float* const pa = a.data();
    float* const pb = b.data();
    float* const pc = c.data();
    // A [4, 8] (lda >= 8; stored [8, 4] when transposed: lda >= 4), B [8, 4] (ldb >= 4; [4, 8]: ldb >= 8), C [4, 4]
    const std::vector<std::pair<const char*, std::function<void()>>> bad = {
        {"lda", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 7, pb, 4, 0.0f, pc, 4); }},
        {"lda", [&] { dsv4::nn::gemm(ctx, yes, no, 4, 4, 8, pa, 3, pb, 4, 0.0f, pc, 4); }},
        {"ldb", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 8, pb, 3, 0.0f, pc, 4); }},
        {"ldb", [&] { dsv4::nn::gemm(ctx, no, yes, 4, 4, 8, pa, 8, pb, 7, 0.0f, pc, 4); }},
        {"ldc", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 8, pb, 4, 0.0f, pc, 3); }},
        {"beta", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 8, pb, 4, 0.5f, pc, 4); }},
        {"A is null", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, nullptr, 8, pb, 4, 0.0f, pc, 4); }},
        {"C overlaps B", [&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 8, pa + 8, 4, 0.0f, pa + 32, 4); }},
    };
    for (const auto& [what, call] : bad) EXPECT_NE(message(call).find(what), std::string::npos) << what << ": " << message(call);
    // the same call with good arguments runs, and empty products need no storage
    EXPECT_EQ(message([&] { dsv4::nn::gemm(ctx, no, no, 4, 4, 8, pa, 8, pb, 4, 0.0f, pc, 4); }), "no error");
    EXPECT_EQ(message([&] { dsv4::nn::gemm(ctx, no, no, 0, 4, 8, nullptr, 0, nullptr, 0, 1.0f, nullptr, 0); }), "no error");
}

}  // namespace
