#include "core/ops/product_threads.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "core/ops/best_seconds.h"
#include "core/ops/direct_gemm.h"
#include "core/parallel.h"

namespace qkv::kernels {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<double> fixed_grain{-1};  // negative: not fixed

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// The median of 31 starts (and joins) of an empty team, after 3 that wake the threads up:
// in a training step the team was last used by the op before, so its threads are awake.
// Fewer once 2 ms have passed: 34 take about 0.1 ms, but 0.3 s when every start waits a
// time slice (GrainSchedule), and the measurement is then repeated.
double team_start_seconds(int threads) {
  std::vector<double> samples;
  const Clock::time_point first = Clock::now();
  for (int i = 0; i < 34 && (samples.empty() || seconds_since(first) < 2e-3); ++i) {
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

double GrainSchedule::record(double grain, double now) {
  grain_ = grain_ == 0 ? grain : std::min(grain_, grain);
  next_ = interval_ <= kLastInterval ? now + interval_ : std::numeric_limits<double>::infinity();
  interval_ *= 2;
  return grain_;
}

double measured_parallel_product_grain() {
  constexpr int kMaxThreads = 256;  // set_num_threads' bound in a run config (train.threads)
  struct Record {
    std::atomic<double> grain{0};  // what the schedule last returned; 0: not measured yet
    std::atomic<double> next{0};   // when to look at the schedule again
    std::atomic<uint32_t> calls{0};
    GrainSchedule schedule;  // under `measuring`
  };
  static std::array<Record, kMaxThreads + 1> records;
  static std::mutex measuring;
  static const double rate = single_thread_rate();
  const int threads = std::min(num_threads(), kMaxThreads);
  Record& record = records[threads];
  const double grain = record.grain.load(std::memory_order_relaxed);
  // The clock is read on one call in 64: a call to a small product costs a few hundred ns.
  if (grain != 0 && (record.calls.fetch_add(1, std::memory_order_relaxed) % 64 != 0 ||
                     now_seconds() < record.next.load(std::memory_order_relaxed)))
    return grain;
  std::unique_lock<std::mutex> lock(measuring, std::defer_lock);
  if (grain == 0) lock.lock();
  else if (!lock.try_lock()) return grain;  // another thread is measuring: use the last grain
  if (!record.schedule.due(now_seconds())) return record.schedule.grain();
  const double measured = parallel_product_grain(team_start_seconds(threads), rate, threads);
  const double now = now_seconds(), kept = record.schedule.record(measured, now);
  record.next.store(record.schedule.next(), std::memory_order_relaxed);
  record.grain.store(kept, std::memory_order_relaxed);
  return kept;
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
