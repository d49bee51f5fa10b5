#include "core/ops/gemm_dispatch.h"

#include "core/ops/best_seconds.h"
#include "core/ops/bf16_gemm.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/packed_gemm.h"
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <vector>

namespace qkv::kernels {

// Two reasons send a product to packed_gemm; each comes from the caches' sizes.
// - B outgrows the L2 cache. direct_gemm reuses B, read in place, across every tile of C's
//   rows: while B fits in the L2 that costs nothing, and packing would be pure overhead.
//   Beyond, packing pays when each packed element is reused often enough: a packed block of
//   B serves every row of A, a packed panel of A every column of B, so both m and n must
//   exceed the packed column block nc (itself from the L2 size).
// - direct_gemm's passes over C outgrow the L2. It makes one pass over a block of C's rows
//   per depth block (k longer than direct_blocks' depth takes several), and each pass
//   reads back what the last one wrote. While that row block of C and its block of A fit
//   in half the L2, the other half left to B's panels streaming through, it reads them from
//   the L2; beyond, from the next level, while packed_gemm's longer depth block and
//   L2-sized blocks of C make fewer passes, from the L2.
// On the Zen 5 of docs/performance.md the first rule alone sent every product of the
// benchmark models to direct_gemm; on the Intel Xeon there, the second sends the medium
// and heads16 feed-forward products to packed_gemm, 10-25% faster (docs/performance.md).
GemmKernel choose_gemm_kernel(int64_t m, int64_t n, int64_t k, const CpuCaches& caches) {
  const int64_t s = static_cast<int64_t>(sizeof(Scalar));
  const int64_t nc = packed_blocks(caches).columns;
  if (k * n * s > caches.l2 && std::min(m, n) > nc) return GemmKernel::packed;
  const DirectBlocks direct = direct_blocks(caches);
  const int64_t pass_bytes = std::min(m, direct.rows) * (n + direct.depth) * s;  // C's row block and A's
  return k > direct.depth && 2 * pass_bytes > caches.l2 ? GemmKernel::packed : GemmKernel::direct;
}

const char* gemm_kernel_name(GemmKernel kernel) { return kernel == GemmKernel::direct ? "direct" : "packed"; }

// bf16_gemm does twice float32's multiply-adds per instruction but first rounds both
// operands into packed panels, which the float32 direct kernel never copies. Two shapes
// lose what the dot products gain: C narrower than one bf16 panel (n < 64), where the
// panel's zero columns are computed too; and an A that fits in the L1 cache, where B, the
// larger operand to round, serves so few rows that rounding it costs about what using it
// does (and the whole product is too short to amortise the packing passes).
Precision choose_product_precision(int64_t m, int64_t n, int64_t k, Precision requested, const CpuCaches& caches) {
#ifndef QKV_DOUBLE
  const int64_t a_bytes = m * k * static_cast<int64_t>(sizeof(Scalar));
  if (requested == Precision::bf16 && n >= kBf16PanelColumns && a_bytes > caches.l1d) return Precision::bf16;
#else
  (void)m, (void)n, (void)k, (void)requested, (void)caches;
#endif
  return Precision::float32;
}

bool Bf16Rates::pays() const { return bf16_gflops >= 1.1 * float32_gflops; }

#ifndef QKV_DOUBLE
namespace {
// The calling thread's thread count set to one for a while.
class OneThread {
 public:
  OneThread() { set_num_threads(1); }
  ~OneThread() { set_num_threads(before_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int before_ = num_threads();
};

// The best of 7 timings of each kernel on [192 x 256] x [256 x 256]: 448 KiB of operands,
// in the L2 cache of the CPUs qkv has met, and a product large enough for the bf16 rule
// above, so that what is compared is the kernels and the rounding, not memory. On one
// thread: the question is what this CPU's instructions do. Split over two threads, a
// product this short was mostly the team's starts and the packing's passes, and the answer
// changed from run to run (float32 in 1 run of 6 of a small bf16 step on the Zen 5, under
// OMP_WAIT_POLICY=passive), so a bf16 run computed in float32 by chance.
Bf16Rates measure_bf16_rates(Bf16Kernel kernel) {
  const OneThread one_thread;
  constexpr int64_t m = 192, k = 256, n = 256;
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) - 3;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) - 2;
  const StridedMatrix lhs = StridedMatrix::row_major(a.data(), k), rhs = StridedMatrix::row_major(b.data(), n);
  const double float32 = best_seconds(7, [&] { parallel_direct_gemm(m, n, k, 1, lhs, rhs, c.data(), n, false); });
  const double bf16 = best_seconds(7, [&] { bf16_gemm(m, n, k, 1, lhs, rhs, c.data(), nullptr, kernel); });
  const double flops = 2.0 * m * n * k;
  return {flops / float32 / 1e9, flops / bf16 / 1e9};
}

std::atomic<int> fixed_bf16_pays{-1};  // -1: measured; 0 or 1: fixed
}  // namespace

const Bf16Rates& measured_bf16_rates() {
  static const Bf16Rates rates = measure_bf16_rates(best_bf16_kernel());
  return rates;
}

bool attention_bf16_pays() {
  const int fixed = fixed_bf16_pays.load(std::memory_order_relaxed);
  if (fixed >= 0) return fixed == 1;
  if (block_bf16_kernel() == best_bf16_kernel()) return measured_bf16_rates().pays();
  static const bool pays = measure_bf16_rates(block_bf16_kernel()).pays();
  return pays;
}

bool attention_products_in_bf16(int64_t output_width) {
  return matmul_precision() == Precision::bf16 && output_width >= kBf16PanelColumns && attention_bf16_pays();
}

bool bf16_pays() {
  const int fixed = fixed_bf16_pays.load(std::memory_order_relaxed);
  return fixed >= 0 ? fixed == 1 : measured_bf16_rates().pays();
}

void set_bf16_pays(std::optional<bool> pays) { fixed_bf16_pays.store(pays ? int(*pays) : -1); }
#else
const Bf16Rates& measured_bf16_rates() {
  static const Bf16Rates none;
  return none;
}
bool bf16_pays() { return false; }
bool attention_bf16_pays() { return false; }
bool attention_products_in_bf16(int64_t) { return false; }
void set_bf16_pays(std::optional<bool>) {}
#endif

Precision product_runs_in(int64_t m, int64_t n, int64_t k, Precision requested) {
  return choose_product_precision(m, n, k, requested, cpu_caches()) == Precision::bf16 && bf16_pays()
             ? Precision::bf16
             : Precision::float32;
}

void gemm_product(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                  const Scalar* bias, Precision precision) {
  const CpuCaches& caches = cpu_caches();
#ifndef QKV_DOUBLE
  if (product_runs_in(m, n, k, precision) == Precision::bf16) return bf16_gemm(m, n, k, alpha, a, b, c, bias);
#else
  (void)precision;
#endif
  if (choose_gemm_kernel(m, n, k, caches) == GemmKernel::packed) {
    static const PackedBlocks blocks = packed_blocks(caches);
    parallel_packed_gemm(m, n, k, alpha, a, b, c, n, false, bias, blocks);
    return;
  }
  parallel_direct_gemm(m, n, k, alpha, a, b, c, n, false, bias);
}

}  // namespace qkv::kernels
