// Threading: OpenMP splits large elementwise work into contiguous chunks; small work runs
// on the calling thread, where starting a team would cost more than it saves.
#pragma once

#include <cstdint>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv {

int num_threads();            // what OpenMP will use (honours OMP_NUM_THREADS)
void set_num_threads(int n);  // n >= 1

// Elements below which elementwise kernels stay on one thread.
constexpr int64_t kParallelGrain = 1 << 15;

// Seconds to start and join a team of num_threads() threads on this machine: the median of
// 15 empty parallel regions, measured on first use for each thread count. Work that takes a
// few times this on one thread is worth splitting; less is not.
double team_start_seconds();

// Whether work estimated at `seconds` on one thread finishes sooner split over the threads.
// Splitting halves the work (on two threads) but adds the team's start and the time the
// other threads take to pull the operands into their own caches, about another start for
// the small products this decides: so the work must outlast four starts.
bool splitting_pays(double seconds);

// Calls fn(begin, end) over [0, n) in contiguous chunks: in parallel when `split` is true,
// there are threads to split over and the caller is not one of another op's threads
// (OpenMP would start a team of one for it); otherwise on the calling thread.
template <class Fn>
void parallel_for_if(bool split, int64_t n, Fn&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  if (split && num_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel
    {
      const int64_t threads = omp_get_num_threads();
      const int64_t t = omp_get_thread_num();
      const int64_t chunk = (n + threads - 1) / threads;
      const int64_t begin = t * chunk;
      const int64_t end = begin + chunk < n ? begin + chunk : n;
      if (begin < end) fn(begin, end);
    }
    return;
  }
#endif
  fn(0, n);
}

// parallel_for_if, in parallel when n * cost_per_item is at least kParallelGrain.
template <class Fn>
void parallel_for(int64_t n, int64_t cost_per_item, Fn&& fn) {
  parallel_for_if(n * cost_per_item >= kParallelGrain, n, std::forward<Fn>(fn));
}

}  // namespace qkv
