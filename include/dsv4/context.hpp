// dsv4/context.hpp — the one owner of threads: a oneTBB arena of a fixed size.
//
// Kernels never spawn threads; model code asks the context to split an index range
// [0, n) into chunks and run them. Each output element is computed by exactly one chunk
// with a fixed reduction order, so results are bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <dsv4/error.hpp>

namespace dsv4 {

class context {
public:
    // All hardware threads.
    context() : context(oneapi::tbb::this_task_arena::max_concurrency()) {}
    explicit context(int n_threads) {
        if (n_threads < 1) fail("context: thread count must be at least 1, got ", n_threads);
        threads_ = n_threads;
        arena_ = std::make_unique<oneapi::tbb::task_arena>(n_threads);
    }
    int threads() const { return threads_; }

    // Runs f(begin, end) over chunks of [0, n) of at least `grain` items.
    template <class F>
    void parallel_for(size_t n, size_t grain, F&& f) const {
        if (n == 0) return;
        grain = std::max<size_t>(grain, 1);
        if (threads_ == 1 || n <= grain) {
            f(size_t(0), n);
            return;
        }
        arena_->execute([&] {
            oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<size_t>(0, n, grain),
                                      [&](const oneapi::tbb::blocked_range<size_t>& r) { f(r.begin(), r.end()); },
                                      oneapi::tbb::simple_partitioner());
        });
    }

private:
    int threads_ = 1;
    std::unique_ptr<oneapi::tbb::task_arena> arena_;
};

}  // namespace dsv4
