// Threading: OpenMP splits large elementwise work into contiguous chunks; small work runs
// on the calling thread, where starting a team would cost more than it saves.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv {

int num_threads();            // what OpenMP will use (honours OMP_NUM_THREADS)
void set_num_threads(int n);  // n >= 1

// Elements below which elementwise kernels stay on one thread.
constexpr int64_t kParallelGrain = 1 << 15;

// An exception must not leave an OpenMP region: the program would terminate, where on one
// thread the caller could have caught it (a user's mask_mod that throws, an allocation that
// fails). Each thread of a team runs its part through run(), which keeps the first
// exception; the caller rethrows it once the team has joined. failed() lets the other
// threads stop taking work.
class TeamErrors {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
  std::atomic<bool> failed_{false};
};

#ifdef _OPENMP
// Whether n items of `cost_per_item` are worth starting a team for. Inside a parallel
// region (an op called from another op's threads) the work stays on the calling thread:
// OpenMP would start a team of one for it.
inline bool team_pays(int64_t n, int64_t cost_per_item) {
  return n > 1 && n * cost_per_item >= kParallelGrain && num_threads() > 1 && !omp_in_parallel();
}
#endif

// Calls fn(begin, end) over [0, n) in contiguous chunks, one per thread of a team, for a
// caller that has judged the work worth a team itself (a matrix product: split_product).
// On the calling thread alone inside a parallel region or with one thread.
template <class Fn>
void team_for(int64_t n, Fn&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  if (n > 1 && num_threads() > 1 && !omp_in_parallel()) {
    TeamErrors errors;
#pragma omp parallel
    {
      const int64_t threads = omp_get_num_threads();
      const int64_t t = omp_get_thread_num();
      const int64_t chunk = (n + threads - 1) / threads;
      const int64_t begin = t * chunk;
      const int64_t end = begin + chunk < n ? begin + chunk : n;
      if (begin < end) errors.run([&] { fn(begin, end); });
    }
    errors.rethrow();
    return;
  }
#endif
  fn(0, n);
}

// Calls fn(begin, end) over [0, n) in contiguous chunks, in parallel when n*cost is large.
template <class Fn>
void parallel_for(int64_t n, int64_t cost_per_item, Fn&& fn) {
#ifdef _OPENMP
  if (team_pays(n, cost_per_item)) return team_for(n, fn);
#endif
  if (n > 0) fn(0, n);
}

// For n independent tasks of about equal work: calls body(next) once on each thread of a
// team (or on the calling thread alone, as team_pays() decides), where next(t) sets t to
// a task nobody has taken and returns false when none is left. Each thread first takes
// the tasks of its own contiguous share, in order, as parallel_for would give them; then
// it takes what is left of the others' shares. On a VM one core is often slower than the
// other for a while, and with fixed shares the faster one waited at the end (the fused
// attention ran 5-14% faster in such an hour with this). Each task must give the same
// result on any thread.
template <class Body>
void parallel_tasks(int64_t n, int64_t cost_per_task, Body&& body) {
  if (n <= 0) return;
#ifdef _OPENMP
  if (team_pays(n, cost_per_task)) {
    const int threads = num_threads();
    struct alignas(64) Share {  // a cache line each: the owner advances its cursor often
      std::atomic<int64_t> cursor;
      int64_t end;
    };
    const int64_t chunk = (n + threads - 1) / threads;
    std::vector<Share> shares(static_cast<size_t>(threads));
    for (int64_t t = 0; t < threads; ++t) {
      shares[t].cursor.store(std::min(n, t * chunk), std::memory_order_relaxed);
      shares[t].end = std::min(n, (t + 1) * chunk);
    }
    TeamErrors errors;
#pragma omp parallel
    {
      const int64_t own = omp_get_thread_num();
      const auto next = [&shares, &errors, own, threads](int64_t& task) {
        if (errors.failed()) return false;  // a task threw: the call fails, no more work
        for (int64_t i = 0; i < threads; ++i) {
          Share& share = shares[(own + i) % threads];
          if (share.cursor.load(std::memory_order_relaxed) >= share.end) continue;
          task = share.cursor.fetch_add(1, std::memory_order_relaxed);
          if (task < share.end) return true;
        }
        return false;
      };
      errors.run([&] { body(next); });
    }
    errors.rethrow();
    return;
  }
#endif
  int64_t taken = 0;
  body([&taken, n](int64_t& task) {
    task = taken++;
    return task < n;
  });
}

}  // namespace qkv
