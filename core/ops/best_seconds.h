// Timing a kernel on this machine, for the choices made by measuring rather than by a
// constant (core/ops/product_threads.h, the bf16 rule of core/ops/gemm_dispatch.h). Internal.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace qkv::kernels {

// The shortest of `samples` timings of fn(), after one more that warms the caches and the
// threads: the kernel's own speed, as little disturbed by the rest of the machine as can be.
template <class Fn>
double best_seconds(int samples, Fn&& fn) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= samples; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i > 0) best = std::min(best, seconds);
  }
  return best;
}

}  // namespace qkv::kernels
