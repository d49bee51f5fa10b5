// Threading: OpenMP splits large elementwise work into contiguous chunks; small work runs
// on the calling thread, where starting a team would cost more than it saves.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv {

int num_threads();            // what OpenMP will use (honours OMP_NUM_THREADS)
void set_num_threads(int n);  // n >= 1

// Elements below which elementwise kernels stay on one thread.
constexpr int64_t kParallelGrain = 1 << 15;

// Calls fn(begin, end) over [0, n) in contiguous chunks, in parallel when n*cost is large.
template <class Fn>
void parallel_for(int64_t n, int64_t cost_per_item, Fn&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  // Inside a parallel region (an op called from another op's threads) the work stays on
  // the calling thread: OpenMP would start a team of one for it.
  if (n * cost_per_item >= kParallelGrain && num_threads() > 1 && !omp_in_parallel()) {
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

}  // namespace qkv
