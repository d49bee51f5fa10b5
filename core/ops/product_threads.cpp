#include "core/ops/product_threads.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <limits>
#include <vector>

#include "core/ops/best_seconds.h"
#include "core/ops/direct_gemm.h"
#include "core/parallel.h"

namespace qkv::kernels {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<double> fixed_grain{-1};  // negative: not fixed

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The median of 31 starts (and joins) of an empty team, after 3 that wake the threads up:
// in a training step the team was last used by the op before, so its threads are awake.
double team_start_seconds(int threads) {
  std::vector<double> samples;
  for (int i = 0; i < 34; ++i) {
    const Clock::time_point start = Clock::now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    { asm volatile("" ::: "memory"); }
#endif
    if (i >= 3) samples.push_back(seconds_since(start));
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

// The best of 5 timings of 10 products [48 x 64] x [64 x 64], whose 40 KB of operands stay
// in the L1 cache after the first: the kernel's own rate, the most a thread could save.
double single_thread_rate() {
  constexpr int64_t m = 48, k = 64, n = 64, calls = 10;
  const std::vector<Scalar> a(m * k, Scalar(0.5)), b(k * n, Scalar(0.25));
  std::vector<Scalar> c(m * n);
  const double best = best_seconds(5, [&] {
    for (int call = 0; call < calls; ++call)
      direct_gemm(m, n, k, Scalar(1), StridedMatrix::row_major(a.data(), k), b.data(), n, c.data(), n, false);
  });
  return static_cast<double>(m * n * k * calls) / best;
}

}  // namespace

double parallel_product_grain(double team_seconds, double multiply_adds_per_second, int threads) {
  if (threads <= 1) return std::numeric_limits<double>::infinity();
  return team_seconds * multiply_adds_per_second * threads / (threads - 1);
}

void set_parallel_product_grain(double multiply_adds) { fixed_grain.store(multiply_adds); }

double measured_parallel_product_grain() {
  constexpr int kMaxThreads = 256;  // set_num_threads' bound in a run config (train.threads)
  static std::array<std::atomic<double>, kMaxThreads + 1> grains{};  // 0: not measured yet
  static const double rate = single_thread_rate();
  const int threads = std::min(num_threads(), kMaxThreads);
  double grain = grains[threads].load(std::memory_order_relaxed);
  if (grain == 0) {
    grain = parallel_product_grain(team_start_seconds(threads), rate, threads);
    grains[threads].store(grain, std::memory_order_relaxed);
  }
  return grain;
}

bool split_product(int64_t m, int64_t n, int64_t k) {
#ifdef _OPENMP
  if (num_threads() <= 1 || omp_in_parallel()) return false;
  const double fixed = fixed_grain.load(std::memory_order_relaxed);
  const double grain = fixed >= 0 ? fixed : measured_parallel_product_grain();
  return static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= grain;
#else
  (void)m, (void)n, (void)k;
  return false;
#endif
}

}  // namespace qkv::kernels
