// The few statistics the reports give over a cell's seeds: a binomial proportion's
// confidence interval, and quantiles.
#pragma once

#include <cstdint>
#include <vector>

namespace qkv {

struct Interval {
  double low = 0;
  double high = 0;
};

// Wilson score interval of successes / trials (Wilson 1927): unlike p +- z sqrt(p(1-p)/n) it
// stays inside [0, 1] and is not empty at 0 or n successes, which is what a cell of 8 runs
// that all fail or all succeed needs. z = 1.959964 gives 95%. {NaN, NaN} for 0 trials.
Interval wilson_interval(int64_t successes, int64_t trials, double z = 1.959964);

// The q-quantile (0 <= q <= 1) by linear interpolation between order statistics (R's and
// numpy's default, "type 7"); NaN for no values.
double quantile(std::vector<double> values, double q);

}  // namespace qkv
