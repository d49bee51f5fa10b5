// parallel_tasks hands each task to exactly one thread, whatever the team's size.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"

using namespace qkv;

namespace {
// How often each of n tasks ran, and on how many distinct threads the body ran.
struct Runs {
  std::vector<int> per_task;
  int bodies = 0;
};

Runs run_tasks(int64_t n, int64_t cost) {
  std::vector<std::atomic<int>> count(static_cast<size_t>(n));
  std::atomic<int> bodies{0};
  parallel_tasks(n, cost, [&](const auto& next) {
    ++bodies;
    for (int64_t t; next(t);) ++count[static_cast<size_t>(t)];
  });
  Runs runs;
  for (auto& c : count) runs.per_task.push_back(c.load());
  runs.bodies = bodies.load();
  return runs;
}
}  // namespace

TEST_CASE("parallel_tasks runs every task once, on one thread or a team", "[threads]") {
  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t n : {int64_t(1), int64_t(2), int64_t(5), int64_t(64), int64_t(1000)}) {
      INFO(threads << " threads, " << n << " tasks");
      const Runs big = run_tasks(n, kParallelGrain);  // enough work for a team
      CHECK(big.per_task == std::vector<int>(static_cast<size_t>(n), 1));
      CHECK(big.bodies == (n > 1 ? threads : 1));
      const Runs small = run_tasks(n, 1);  // below the grain: the calling thread alone
      CHECK(small.per_task == std::vector<int>(static_cast<size_t>(n), 1));
      CHECK(small.bodies == 1);
    }
  }
  CHECK(run_tasks(0, kParallelGrain).bodies == 0);
  set_num_threads(before);
}

TEST_CASE("an exception thrown on a team's thread reaches the caller", "[threads]") {
  // OpenMP would terminate the program if it left the parallel region.
  const int before = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    INFO(threads << " threads");
    CHECK_THROWS_WITH(parallel_for(1000, kParallelGrain,
                                   [](int64_t begin, int64_t end) {
                                     if (begin <= 900 && 900 < end) throw std::runtime_error("item 900");
                                   }),
                      "item 900");
    CHECK_THROWS_WITH(parallel_tasks(1000, kParallelGrain,
                                     [](const auto& next) {
                                       for (int64_t t; next(t);)
                                         if (t == 900) throw std::out_of_range("task 900");
                                     }),
                      "task 900");
    // The next call runs normally.
    std::atomic<int64_t> done{0};
    parallel_tasks(1000, kParallelGrain, [&](const auto& next) {
      for (int64_t t; next(t);) ++done;
    });
    CHECK(done == 1000);
  }
  set_num_threads(before);
}
