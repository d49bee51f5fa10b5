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

// The measured grain for this machine and the current thread count: the median start of
// an empty team of the current size, and the best single-thread rate of direct_gemm on a
// product whose operands stay in the L1 cache. Measured on the first call outside a
// parallel region and kept (for the thread count it was measured with); about a millisecond.
double measured_parallel_product_grain();

// Fixes the grain (0: split every product that can be; negative: measure again as above),
// for the tests that check a split gives the serial result whatever the machine measured.
void set_parallel_product_grain(double multiply_adds);

// Whether an m x n x k product should run split over the threads: more than one thread,
// not already inside a parallel region, and at least the measured grain of work.
bool split_product(int64_t m, int64_t n, int64_t k);

}  // namespace qkv::kernels
