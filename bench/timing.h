// Timing of a benchmark step: warm-up runs untimed, then the median (and the fastest) of
// timed runs.
//
// The warm-up lasts at least `warmup` runs and at least kWarmupSeconds. A new process's
// threads can start out on one CPU and stay there until the OS spreads them: on the
// two-core Zen 5 VM of docs/performance.md, a small step's median of 10 after 3 warm-up
// runs was 21 ms in some processes and 41-56 ms in others, and 21-25 ms in all with 40
// timed runs. bench/torch_bench.py warms PyTorch up the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace qkv_bench {

inline constexpr double kWarmupSeconds = 1.0;

// For a program that times many small things in one process: its first timing warms the
// threads up for all of them (kWarmupSeconds), the later ones need only their warm-up runs.
class WarmupOnce {
 public:
  double seconds() {
    const double s = first_ ? kWarmupSeconds : 0;
    first_ = false;
    return s;
  }

 private:
  bool first_ = true;
};

// Runs step() untimed at least `runs` times and for at least `seconds`; returns the runs.
inline int64_t warm_up(int64_t runs, const std::function<void()>& step, double seconds = kWarmupSeconds) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int64_t done = 0;
  for (; done < runs || std::chrono::duration<double>(Clock::now() - start).count() < seconds; ++done) step();
  return done;
}

struct Timing {
  double median_ms = 0, min_ms = 0;
  int64_t warmup_runs = 0;
};

// Warms `step` up (warm_up), then runs it `repeats` times timed.
inline Timing time_it(int64_t warmup, int64_t repeats, const std::function<void()>& step,
                      double warmup_seconds = kWarmupSeconds) {
  using Clock = std::chrono::steady_clock;
  const int64_t warmup_runs = warm_up(warmup, step, warmup_seconds);
  std::vector<double> ms;
  for (int64_t i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), warmup_runs};
}

// Two steps timed in alternation, `repeats` pairs after `warmup` untimed ones: a busy host
// slows both sides of a pair alike, so the median of the per-pair ratios a / b moves less
// with the host's load than the ratio of two separate runs. Every other pair runs b first,
// so that neither side always finds the caches as the other left them.
struct PairedTiming {
  Timing a, b;
  double median_ratio = 0;  // of a's time to b's, pair by pair
};
inline PairedTiming time_pairs(int64_t warmup, int64_t repeats, const std::function<void()>& a,
                               const std::function<void()>& b) {
  using Clock = std::chrono::steady_clock;
  const auto ms = [](const std::function<void()>& step) {
    const auto start = Clock::now();
    step();
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };
  const int64_t warmup_runs = warm_up(warmup, [&] {
    a();
    b();
  });
  std::vector<double> ta, tb, ratio;
  for (int64_t i = 0; i < repeats; ++i) {
    if (i % 2 == 0) {
      ta.push_back(ms(a));
      tb.push_back(ms(b));
    } else {
      tb.push_back(ms(b));
      ta.push_back(ms(a));
    }
    ratio.push_back(ta.back() / tb.back());
  }
  for (auto* v : {&ta, &tb, &ratio}) std::sort(v->begin(), v->end());
  return {{ta[ta.size() / 2], ta.front(), warmup_runs}, {tb[tb.size() / 2], tb.front(), warmup_runs},
          ratio[ratio.size() / 2]};
}

}  // namespace qkv_bench
