#include <catch2/catch.hpp>

#include <cmath>

#include "experiments/statistics.h"

using namespace qkv;

TEST_CASE("Wilson interval by hand", "[experiments]") {
  // 8 of 10, z = 1.96: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10) = 0.99208 / 1.38416 = 0.716738,
  // half 1.96 sqrt(0.016 + 0.009604) / 1.38416 = 0.226581.
  const Interval eight = wilson_interval(8, 10, 1.96);
  CHECK(eight.low == Approx(0.490157).epsilon(1e-5));
  CHECK(eight.high == Approx(0.943319).epsilon(1e-5));
  // 0 of 8: [0, z^2/n / (1 + z^2/n)] = [0, 0.48020 / 1.48020]; n of n mirrors it.
  const Interval none = wilson_interval(0, 8, 1.96);
  CHECK(none.low == 0);
  CHECK(none.high == Approx(0.324416).epsilon(1e-5));
  const Interval all = wilson_interval(8, 8, 1.96);
  CHECK(all.low == Approx(1 - 0.324416).epsilon(1e-5));
  CHECK(all.high == 1);
  CHECK(std::isnan(wilson_interval(0, 0).low));
}

TEST_CASE("quantiles interpolate between order statistics", "[experiments]") {
  // Sorted 100, 150, 200, 400: the quartiles sit at positions 0.75, 1.5 and 2.25.
  const std::vector<double> steps{400, 100, 200, 150};
  CHECK(quantile(steps, 0.25) == Approx(137.5));
  CHECK(quantile(steps, 0.5) == Approx(175));
  CHECK(quantile(steps, 0.75) == Approx(250));
  CHECK(quantile(steps, 0) == 100);
  CHECK(quantile(steps, 1) == 400);
  CHECK(quantile({7}, 0.5) == 7);
  CHECK(std::isnan(quantile({}, 0.5)));
}
