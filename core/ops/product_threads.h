// When a matrix product is worth a team of threads. Splitting C over T threads saves
// (1 - 1/T) of the product's time on one thread and costs the start of a team; both depend
// on the machine (its clock, its FMA units, how the OS and a hypervisor wake threads), so
// both are measured here once, at run time, rather than written down as a constant.
// Internal.
#pragma once

#include <cstdint>

namespace qkv::kernels {

// Multiply-adds below which the split costs more than it saves:
// team_seconds * multiply_adds_per_second * T / (T - 1). Infinite for T = 1.
double parallel_product_grain(double team_seconds, double multiply_adds_per_second, int threads);

// When the grain is measured again, and which measurement is kept. A team's threads can
// start out on one CPU and stay there for a while: on a two-core VM, in 3 processes of 8
// both sat on CPU 0 while the grain was measured, every team start took a time slice (8 ms),
// and the grain kept every product of the run on one thread (the small step 1.7x slower).
// So the grain is measured again 0.1, 0.2, 0.4, ... seconds after the first (the last 102 s
// after it), and the smallest kept: a disturbance can only make a team slower to start.
// Splitting a product never changes its bits, so neither does this.
class GrainSchedule {
 public:
  static constexpr double kFirstInterval = 0.1, kLastInterval = 64;  // seconds

  // Whether a measurement is due at time `now` (seconds): none yet, or the next one.
  bool due(double now) const { return grain_ == 0 || now >= next_; }
  // Records a grain measured at `now`; returns the one to use.
  double record(double grain, double now);
  double grain() const { return grain_; }  // 0 before the first measurement
  double next() const { return next_; }    // when the next one is due (infinity: never)

 private:
  double grain_ = 0, next_ = 0, interval_ = kFirstInterval;
};

// The measured grain for this machine and the current thread count: the median start of
// an empty team of the current size, and the best single-thread rate of direct_gemm on a
// product whose operands stay in the L1 cache. Measured on the first call outside a
// parallel region (about a millisecond), then as GrainSchedule says, for each thread count.
double measured_parallel_product_grain();

// Fixes the grain (0: split every product that can be; negative: measure again as above),
// for the tests that check a split gives the serial result whatever the machine measured.
void set_parallel_product_grain(double multiply_adds);

// Whether an m x n x k product should run split over the threads: more than one thread,
// not already inside a parallel region, and at least the measured grain of work.
bool split_product(int64_t m, int64_t n, int64_t k);

}  // namespace qkv::kernels
