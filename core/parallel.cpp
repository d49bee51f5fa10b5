#include "core/parallel.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

namespace qkv {

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need n >= 1, got " + std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

double team_start_seconds() {
#ifdef _OPENMP
  const int threads = num_threads();
  if (threads <= 1) return 0;
  // One slot per thread count; 0 until measured. Two threads measuring at once both store
  // a measurement, either of which will do.
  static std::array<std::atomic<double>, 1025> measured{};
  std::atomic<double>& slot = measured[std::min(threads, 1024)];
  if (const double known = slot.load(std::memory_order_relaxed); known > 0) return known;
  std::array<double, 16> seconds{};
  for (double& s : seconds) {  // the first starts the threads, and is dropped below
    const auto begin = std::chrono::steady_clock::now();
#pragma omp parallel
    { [[maybe_unused]] volatile int here = omp_get_thread_num(); }
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  }
  std::nth_element(seconds.begin() + 1, seconds.begin() + 8, seconds.end());
  const double median = std::max(seconds[8], 1e-9);
  slot.store(median, std::memory_order_relaxed);
  return median;
#else
  return 0;
#endif
}

bool splitting_pays(double seconds) {
  if (num_threads() <= 1) return false;
#ifdef _OPENMP
  if (omp_in_parallel()) return false;
#endif
  return seconds >= 4 * team_start_seconds();
}

}  // namespace qkv
