// Which of qkv's kernels computes a matrix product, and the call that runs it: the rule
// that turns the CPU's cache sizes and vector width into that choice. Internal.
#pragma once

#include <cstdint>
#include <optional>

#include "core/cpu_caches.h"
#include "core/precision.h"
#include "core/ops/direct_gemm.h"

namespace qkv::kernels {

enum class GemmKernel { direct, packed };

GemmKernel choose_gemm_kernel(int64_t m, int64_t n, int64_t k, const CpuCaches& caches);
const char* gemm_kernel_name(GemmKernel kernel);

// The precision a product asked to run in `requested` runs in: bf16 only where it can be
// faster than float32 (a full bf16 panel of C's columns, and more of A than the L1 cache
// holds), float32 otherwise. The rule and why: gemm_dispatch.cpp.
Precision choose_product_precision(int64_t m, int64_t n, int64_t k, Precision requested, const CpuCaches& caches);
// What gemm_product runs such a product in: bf16 where choose_product_precision allows it
// on this machine's caches and bf16_pays() (below), else float32.
Precision product_runs_in(int64_t m, int64_t n, int64_t k, Precision requested);

// Whether bf16 products are faster than float32 ones on this CPU at all. AVX512_BF16's dot
// product does two multiply-adds per lane, but CPUs retire it at different rates: twice
// the float32 FMA's multiply-adds on a Zen 5, half of them on an Intel Xeon (where the AMX
// kernel, when Linux grants it, runs at 1.2-2.9x float32's rate; docs/precision.md). So it is measured once at run time, on the first product asked to
// run in bf16: both kernels on one product held in the L2 cache, rounding included.
struct Bf16Rates {
  double float32_gflops = 0, bf16_gflops = 0;
  bool pays() const;  // bf16 at least 10% faster: a closer call could change between runs
};
const Bf16Rates& measured_bf16_rates();
// measured_bf16_rates().pays(), unless fixed with set_bf16_pays (the tests of the bf16
// path on a CPU where it does not pay; nullopt: measured again).
bool bf16_pays();
void set_bf16_pays(std::optional<bool> pays);
// The same question for the fused attention's bf16 block products, which run on
// block_bf16_kernel() (core/ops/bf16_gemm.h): where that is the CPU's best bf16 kernel,
// bf16_pays(); where the best is AMX, the block kernel's own rate, measured the same way
// (on the Xeon of docs/precision.md its vdpbf16ps runs at half float32's rate). Fixed with
// set_bf16_pays too.
bool attention_bf16_pays();
// Whether a product of the fused attention whose output is `output_width` columns wide
// runs in bf16 on this thread now: bf16 precision asked (core/precision.h),
// attention_bf16_pays(), and an output at least one 64-column bf16 panel wide, as for
// matmul (choose_product_precision). Q K^T and dO V^T are as wide as a block of keys; P V,
// dS K and the products into dK and dV as wide as a head. A narrower output leaves part of
// every panel empty, and the rounded operands serve that many fewer columns: with all six
// products in bf16, heads of 16 ran 1.4x slower than float32 (docs/precision.md).
bool attention_products_in_bf16(int64_t output_width);

// C [m, n] = alpha A B, plus `bias` [n] on every row when given, split over the threads,
// by the kernel choose_gemm_kernel names for this CPU. A and B are row-major or stored
// transposes (StridedMatrix::row_major). In bf16 precision the float build hands the
// product to bf16_gemm (core/ops/bf16_gemm.h) instead, where choose_product_precision
// says bf16 pays and bf16_pays() says so of this CPU; the double build ignores it.
void gemm_product(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                  const Scalar* bias, Precision precision = Precision::float32);

}  // namespace qkv::kernels
