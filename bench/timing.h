// Timing of a benchmark step: warm-up runs untimed, then the median (and the fastest) of
// timed runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace qkv_bench {

struct Timing {
  double median_ms = 0, min_ms = 0;
};

// Runs `step` `warmup` times untimed, then `repeats` times timed.
inline Timing time_it(int64_t warmup, int64_t repeats, const std::function<void()>& step) {
  using Clock = std::chrono::steady_clock;
  for (int64_t i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int64_t i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
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
  for (int64_t i = 0; i < warmup; ++i) {
    a();
    b();
  }
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
  return {{ta[ta.size() / 2], ta.front()}, {tb[tb.size() / 2], tb.front()}, ratio[ratio.size() / 2]};
}

}  // namespace qkv_bench
