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

}  // namespace qkv_bench
