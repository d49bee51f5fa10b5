// kernels::direct_gemm against a plain triple loop in double: every tile shape it
// dispatches (full tiles, last rows, last whole vectors, last single columns), A read
// transposed, accumulation, a depth longer than one block of B, and strided sub-blocks.
#include <catch2/catch.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/cpu_caches.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/product_threads.h"
#include "core/parallel.h"
#include "core/ops/vector_tile.h"

using namespace qkv;

namespace {
struct Case {
  int64_t m, n, k;
  bool a_transposed, accumulate, bias = false;
};

void check(const Case& c, Generator& gen) {
  // Leading dimensions wider than the product, so rows of B and C are not contiguous.
  const int64_t lda = (c.a_transposed ? c.m : c.k) + 3, ldb = c.n + 5, ldc = c.n + 2;
  const int64_t a_rows = c.a_transposed ? c.k : c.m;
  std::vector<Scalar> a(a_rows * lda + 1), b(c.k * ldb + 1), out(c.m * ldc + 1), bias(c.n);
  for (Scalar& x : bias) x = static_cast<Scalar>(gen.normal());
  for (Scalar& x : a) x = static_cast<Scalar>(gen.normal());
  for (Scalar& x : b) x = static_cast<Scalar>(gen.normal());
  for (Scalar& x : out) x = static_cast<Scalar>(gen.normal());
  const std::vector<Scalar> before = out;
  const Scalar alpha = 0.75;
  const auto lhs = kernels::StridedMatrix::row_major(a.data(), lda, c.a_transposed);
  kernels::direct_gemm(c.m, c.n, c.k, alpha, lhs, b.data(), ldb, out.data(), ldc, c.accumulate,
                       c.bias ? bias.data() : nullptr);

  double worst = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const int64_t at = i * ldc + j;
      if (j >= c.n) {  // the padding between rows of C is never written
        REQUIRE(out[at] == before[at]);
        continue;
      }
      double sum = 0;
      for (int64_t p = 0; p < c.k; ++p)
        sum += double(c.a_transposed ? a[p * lda + i] : a[i * lda + p]) * double(b[p * ldb + j]);
      const double expected =
          alpha * sum + (c.accumulate ? double(before[at]) : 0.0) + (c.bias ? double(bias[j]) : 0.0);
      worst = std::max(worst, std::abs(expected - double(out[at])) / (1 + std::sqrt(double(c.k))));
    }
  INFO("m " << c.m << " n " << c.n << " k " << c.k << " transposed " << c.a_transposed << " accumulate "
            << c.accumulate << " bias " << c.bias);
  CHECK(worst < (sizeof(Scalar) == 4 ? 1e-5 : 1e-13));
}
}  // namespace

TEST_CASE("direct_gemm matches a triple loop over every tile shape", "[kernels]") {
  Generator gen(11);
  for (int64_t m : {1, 5, 6, 13, 64})
    for (int64_t n : {1, 7, 16, 33, 64, 100})
      for (int64_t k : {1, 9, 64, 300})
        for (bool transposed : {false, true})
          for (bool accumulate : {false, true})
            for (bool bias : {false, true}) check({m, n, k, transposed, accumulate, bias}, gen);
}

TEST_CASE("direct_gemm with no depth writes zeros (or the bias), or leaves C when accumulating", "[kernels]") {
  Generator gen(12);
  for (bool accumulate : {false, true})
    for (bool bias : {false, true}) check({7, 40, 0, false, accumulate, bias}, gen);
}

TEST_CASE("parallel_direct_gemm splits by rows or by columns and gives the serial result", "[kernels]") {
  Generator gen(13);
  kernels::set_parallel_product_grain(0);  // split these small products whatever this machine measured
  for (auto [m, n] : {std::pair<int64_t, int64_t>{301, 45}, {45, 301}}) {
    const int64_t k = 70;
    std::vector<Scalar> a(m * k), b(k * n), bias(n), serial(m * n), parallel(m * n);
    for (auto* v : {&a, &b, &bias})
      for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
    kernels::direct_gemm(m, n, k, 1, {a.data(), k, 1}, b.data(), n, serial.data(), n, false, bias.data());
    kernels::parallel_direct_gemm(m, n, k, 1, {a.data(), k, 1}, {b.data(), n, 1}, parallel.data(), n, false, bias.data());
    CHECK(serial == parallel);  // the same tiles, so the same sums in the same order
  }
  kernels::set_parallel_product_grain(-1);
}

TEST_CASE("a product's bits do not depend on its split, with alpha, a bias and accumulation", "[kernels][threads]") {
  // alpha not a power of two and something added to alpha times the sums (C, a bias, or a
  // second depth block): were the product fused with the addition in some tile widths and
  // not in others, a column would get other bits in a 64-wide tile than in a 32-wide one.
  Generator gen(16);
  const Scalar alpha = Scalar(3.25) / 3;
  for (int64_t k : {5, 70, 300}) {  // 300: two depth blocks
    const int64_t m = 6, n = 64;
    std::vector<Scalar> a(m * k), b(k * n), bias(n), start(m * n);
    for (auto* v : {&a, &b, &bias, &start})
      for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
    for (bool accumulate : {false, true}) {
      std::vector<Scalar> whole = start, halves = start;
      kernels::direct_gemm(m, n, k, alpha, {a.data(), k, 1}, b.data(), n, whole.data(), n, accumulate, bias.data());
      for (int64_t j0 : {0, 32})
        kernels::direct_gemm(m, 32, k, alpha, {a.data(), k, 1}, b.data() + j0, n, halves.data() + j0, n, accumulate,
                             bias.data() + j0);
      INFO("k " << k << " accumulate " << accumulate);
      CHECK(whole == halves);
    }
  }
  // Through matmul: q k^T scaled, as the scorers call it, split by columns on two threads.
  kernels::set_parallel_product_grain(0);
  const Tensor q = Tensor::randn({16, 256}, gen), keys = Tensor::randn({80, 256}, gen);
  MatmulOptions scaled;
  scaled.transpose_b = true;
  scaled.alpha = Scalar(0.06875);
  const int before = num_threads();
  set_num_threads(1);
  const Tensor one = matmul(q, keys, scaled);
  set_num_threads(2);
  const Tensor two = matmul(q, keys, scaled);
  set_num_threads(before);
  kernels::set_parallel_product_grain(-1);
  CHECK(std::equal(one.data(), one.data() + one.numel(), two.data()));
}

TEST_CASE("linear gives the bits of add(matmul(x, W), b), past one depth block", "[kernels]") {
  // The bias joins after the product's last depth block: the sum, then the bias.
  Generator gen(17);
  for (int64_t in : {3, 192, 193, 517}) {
    const Tensor x = Tensor::randn({9, in}, gen), w = Tensor::randn({in, 13}, gen), b = Tensor::randn({13}, gen);
    const Tensor fused = linear(x, w, b), apart = add(matmul(x, w), b);
    INFO("in " << in);
    CHECK(std::equal(fused.data(), fused.data() + fused.numel(), apart.data()));
  }
}

TEST_CASE("parallel_direct_gemm copies a transposed B part by part and gives the serial result", "[kernels]") {
  Generator gen(14);
  for (double grain : {0.0, 1e30})  // split where the threads and the work allow, and on the calling thread
    for (auto [m, n] : {std::pair<int64_t, int64_t>{301, 45}, {45, 301}, {7, 3}}) {
      kernels::set_parallel_product_grain(grain);
      const int64_t k = 70;
      std::vector<Scalar> a(m * k), b(k * n), b_stored_transposed(n * k), serial(m * n), parallel(m * n, Scalar(7));
      for (auto* v : {&a, &b})
        for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
      for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j) b_stored_transposed[j * k + p] = b[p * n + j];
      kernels::direct_gemm(m, n, k, 1, {a.data(), k, 1}, b.data(), n, serial.data(), n, false);
      kernels::parallel_direct_gemm(m, n, k, 1, {a.data(), k, 1}, kernels::StridedMatrix::row_major(b_stored_transposed.data(), k, true),
                                    parallel.data(), n, false);
      CHECK(serial == parallel);
    }
  kernels::set_parallel_product_grain(-1);
}

TEST_CASE("parallel_direct_gemm copies rows that share one L1 set and keeps the result's bits", "[kernels]") {
  // Rows a whole number of L1 ways apart share one set of the L1.
  const CpuCaches eight_ways{.l1d = 32 << 10, .l2 = 512 << 10, .l3 = 0, .source = "test", .l1d_ways = 8};
  CHECK(kernels::rows_share_one_l1_set(4096, 9, eight_ways));
  CHECK(kernels::rows_share_one_l1_set(3 * 4096, 64, eight_ways));
  CHECK_FALSE(kernels::rows_share_one_l1_set(4096, 8, eight_ways));        // no more rows than ways: all stay
  CHECK_FALSE(kernels::rows_share_one_l1_set(2048, 64, eight_ways));       // half a way: two sets
  CHECK_FALSE(kernels::rows_share_one_l1_set(4096 + 64, 64, eight_ways));  // a line further: every set
  CpuCaches unknown = eight_ways;
  unknown.l1d_ways = 0;
  CHECK_FALSE(kernels::rows_share_one_l1_set(4096, 64, unknown));

  // Such rows of B and of A stored transposed are copied into rows that do not share a set.
  // The copy holds the same numbers in the same order, so the result equals to the bit
  // direct_gemm's on the same operands stored a few floats wider.
  const CpuCaches& here = cpu_caches();
  const int64_t way = here.l1d_ways > 0 ? here.l1d / here.l1d_ways / int64_t(sizeof(Scalar)) : 1024;
  const int64_t k = 64;
  if (here.l1d_ways > 0) REQUIRE(kernels::rows_share_one_l1_set(way * int64_t(sizeof(Scalar)), k, here));
  Generator gen(15);
  for (double grain : {0.0, 1e30})  // split where the threads and the work allow, and on the calling thread
    for (auto [m, n] : {std::pair<int64_t, int64_t>{200, 300}, {300, 200}}) {
      kernels::set_parallel_product_grain(grain);
      std::vector<Scalar> a_stored_transposed(k * way), b(k * way), bias(n);  // [k, m] and [k, n], rows `way` apart
      for (auto* v : {&a_stored_transposed, &b, &bias})
        for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
      const int64_t lda = m + 16, ldb = n + 16;
      std::vector<Scalar> a_wider(k * lda), b_wider(k * ldb), expected(m * n), got(m * n, Scalar(7));
      for (int64_t p = 0; p < k; ++p) {
        std::copy_n(a_stored_transposed.data() + p * way, m, a_wider.data() + p * lda);
        std::copy_n(b.data() + p * way, n, b_wider.data() + p * ldb);
      }
      kernels::direct_gemm(m, n, k, 1, kernels::StridedMatrix::row_major(a_wider.data(), lda, true), b_wider.data(),
                           ldb, expected.data(), n, false, bias.data());
      kernels::parallel_direct_gemm(m, n, k, 1, kernels::StridedMatrix::row_major(a_stored_transposed.data(), way, true),
                                    kernels::StridedMatrix::row_major(b.data(), way), got.data(), n, false, bias.data());
      CHECK(expected == got);
    }
  kernels::set_parallel_product_grain(-1);
}

TEST_CASE("direct_gemm fetches ahead B's rows that crowd the L1's sets, and keeps the result's bits", "[kernels]") {
  // Rows `stride` apart start at way / gcd(stride, way) places of a 4 KiB way.
  const CpuCaches eight_ways{.l1d = 32 << 10, .l2 = 512 << 10, .l3 = 0, .source = "test", .l1d_ways = 8};
  CHECK(kernels::rows_per_l1_set(4096, 64, eight_ways) == 64);     // one place
  CHECK(kernels::rows_per_l1_set(2048, 64, eight_ways) == 32);     // half a way: two places
  CHECK(kernels::rows_per_l1_set(2048, 65, eight_ways) == 33);     // the odd row goes to the first
  CHECK(kernels::rows_per_l1_set(256, 192, eight_ways) == 12);     // contiguous rows 64 floats wide
  CHECK(kernels::rows_per_l1_set(4096 + 64, 64, eight_ways) == 1); // a line further: every set
  CHECK(kernels::rows_per_l1_set(100, 64, eight_ways) == 1);
  CpuCaches unknown = eight_ways;
  unknown.l1d_ways = 0;
  CHECK(kernels::rows_per_l1_set(2048, 64, unknown) == 0);

  // On this CPU: B's rows half a way apart crowd the L1 whenever a depth block holds more
  // than twice its ways; the hint changes no arithmetic, so the result equals to the bit
  // the same product on a copy of B whose rows spread.
  const CpuCaches& here = cpu_caches();
  if (here.l1d_ways <= 0) {
    WARN("this CPU does not report its L1's associativity: B's rows are never fetched ahead");
    return;
  }
  const int64_t half_way = here.l1d / here.l1d_ways / 2 / int64_t(sizeof(Scalar));
  const int64_t depth = kernels::direct_blocks(here).depth, k = depth + 37, m = 29, n = std::min<int64_t>(half_way, 150);
  REQUIRE(kernels::rows_per_l1_set(half_way * int64_t(sizeof(Scalar)), std::min(k, depth), here) > here.l1d_ways);
  Generator gen(16);
  std::vector<Scalar> a(m * k), b(k * half_way), b_spread(k * kernels::spread_stride(n)), expected(m * n), got(m * n);
  for (auto* v : {&a, &b})
    for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
  for (int64_t p = 0; p < k; ++p)
    std::copy_n(b.data() + p * half_way, n, b_spread.data() + p * kernels::spread_stride(n));
  kernels::direct_gemm(m, n, k, 1, {a.data(), k, 1}, b_spread.data(), kernels::spread_stride(n), expected.data(), n,
                       false);
  kernels::direct_gemm(m, n, k, 1, {a.data(), k, 1}, b.data(), half_way, got.data(), n, false);
  CHECK(expected == got);
}

TEST_CASE("a product goes to the threads when its share outlasts the team's start", "[kernels]") {
  // 5 us to start a team, 1e11 multiply-adds a second: on 2 threads a split saves half of
  // the product's time, which repays 5 us from 1e6 multiply-adds on; on 4 it saves 3/4.
  CHECK(kernels::parallel_product_grain(5e-6, 1e11, 2) == Approx(1e6));
  CHECK(kernels::parallel_product_grain(5e-6, 1e11, 4) == Approx(5e5 * 4 / 3.0));
  CHECK(std::isinf(kernels::parallel_product_grain(5e-6, 1e11, 1)));
  if (num_threads() > 1) {
    const double grain = kernels::measured_parallel_product_grain();
    INFO("measured grain " << grain << " multiply-adds");
    CHECK(grain > 0);
    CHECK(std::isfinite(grain));
    CHECK_FALSE(kernels::split_product(1, 1, 1));
    CHECK(kernels::split_product(1 << 12, 1 << 12, 1 << 12));  // 6.9e10: seconds on one core
  } else {
    CHECK_FALSE(kernels::split_product(1 << 12, 1 << 12, 1 << 12));
  }
}

TEST_CASE("the grain is measured again on a doubling schedule and the smallest kept", "[kernels][threads]") {
  kernels::GrainSchedule schedule;
  CHECK(schedule.due(0));  // nothing measured yet
  CHECK(schedule.record(8e8, 10) == 8e8);  // a start that waited a time slice
  CHECK_FALSE(schedule.due(10.05));
  CHECK(schedule.due(10.1));
  CHECK(schedule.record(6e5, 10.1) == 6e5);  // the threads have spread: the smaller kept
  CHECK_FALSE(schedule.due(10.25));
  CHECK(schedule.due(10.3));                // 0.2 s later
  CHECK(schedule.record(9e5, 10.3) == 6e5);  // a busier minute does not raise it
  double now = 10.3, interval = 0.4;
  int measurements = 3;
  while (std::isfinite(schedule.next())) {
    CHECK(schedule.next() == Approx(now + interval));
    now = schedule.next();
    schedule.record(7e5, now);
    interval *= 2;
    ++measurements;
  }
  CHECK(measurements == 3 + 8);  // 0.4 s to 51.2 s, then no more
  CHECK(interval > kernels::GrainSchedule::kLastInterval);
  CHECK(schedule.grain() == 6e5);
  CHECK_FALSE(schedule.due(1e9));
}

TEST_CASE("transpose of a matrix taller and wider than its blocks", "[kernels]") {
  // The edges of the 16-row stripes and of the 8 x 8 blocks in registers, and no padding
  // of either buffer touched.
  for (int64_t rows : {0, 1, 7, 8, 9, 16, 17, 37})
    for (int64_t cols : {1, 3, 5, 8, 15, 16, 33, 37}) {
      const int64_t ld = cols + 2, out_ld = rows + 3;  // rows apart by more than their width
      std::vector<Scalar> x(rows * ld), out(cols * out_ld, Scalar(-9));
      for (int64_t i = 0; i < rows * ld; ++i) x[i] = static_cast<Scalar>(i);
      kernels::transpose(x.data(), rows, cols, ld, out.data(), out_ld);
      INFO(rows << " x " << cols);
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < out_ld; ++i) REQUIRE(out[j * out_ld + i] == (i < rows ? x[i * ld + j] : Scalar(-9)));
    }
}

TEST_CASE("matmul and linear agree with a triple loop on a small and a large product", "[kernels]") {
  Generator gen(14);
  // 7 x 40 x 50 goes through direct_gemm; 1024^3 through packed_gemm wherever its B (4 MiB)
  // outgrows the L2 cache (core/ops/gemm_dispatch.cpp). The reference is computed at every
  // 97th entry of C.
  for (const auto& shape : {std::array<int64_t, 3>{7, 40, 50}, {1024, 1024, 1024}}) {
    const int64_t m = shape[0], k = shape[1], n = shape[2];  // plain names: lambdas capture them
    const Tensor a = Tensor::randn({m, k}, gen), b = Tensor::randn({k, n}, gen), bias = Tensor::randn({n}, gen);
    auto check_close = [&](const Tensor& got, Scalar alpha, bool with_bias, const char* what) {
      double worst = 0;
      for (int64_t at = 0; at < m * n; at += 97) {
        const int64_t i = at / n, j = at % n;
        double sum = 0;
        for (int64_t p = 0; p < k; ++p) sum += double(a.data()[i * k + p]) * double(b.data()[p * n + j]);
        const double expected = alpha * sum + (with_bias ? double(bias.data()[j]) : 0.0);
        worst = std::max(worst, std::abs(double(got.data()[at]) - expected));
      }
      INFO(what << ", " << m << " x " << k << " x " << n);
      CHECK(worst < 1e-3);
    };
    const Tensor at = transpose(a, 0, 1), bt = transpose(b, 0, 1);  // stored transposed
    check_close(matmul(a, b), 1, false, "A B");
    check_close(matmul(at, b, {.transpose_a = true}), 1, false, "(A^T)^T B");
    check_close(matmul(a, bt, {.transpose_b = true}), 1, false, "A (B^T)^T");
    check_close(matmul(at, bt, {.transpose_a = true, .transpose_b = true}), 1, false, "both transposed");
    check_close(matmul(a, b, {.alpha = -2}), -2, false, "alpha");
    check_close(linear(a, b, bias), 1, true, "linear");
  }
}

TEST_CASE("direct_gemm's blocks follow the cache sizes", "[kernels]") {
  const int64_t s = sizeof(Scalar);
  const CpuCaches small{.l1d = 32 << 10, .l2 = 256 << 10, .l3 = 0, .source = "test"};
  const CpuCaches large{.l1d = 48 << 10, .l2 = 2 << 20, .l3 = 32 << 20, .source = "test"};
  for (const CpuCaches& caches : {small, large}) {
    const kernels::DirectBlocks blocks = kernels::direct_blocks(caches);
    INFO("L1 " << caches.l1d << " L2 " << caches.l2);
    // B's column block fills the L1, A's row block a quarter of the L2, each within one
    // step of its multiple.
    CHECK(blocks.depth * kernels::kTileColumns * s <= caches.l1d);
    CHECK((blocks.depth + kernels::kLanes) * kernels::kTileColumns * s > caches.l1d);
    CHECK(blocks.rows * blocks.depth * s <= caches.l2 / 4);
    CHECK((blocks.rows + kernels::kTileRows) * blocks.depth * s > caches.l2 / 4);
    CHECK(blocks.depth % kernels::kLanes == 0);
    CHECK(blocks.rows % kernels::kTileRows == 0);
  }
  // Caches too small for one block still give one tile's worth, not zero.
  const kernels::DirectBlocks tiny = kernels::direct_blocks({.l1d = 1, .l2 = 1, .l3 = 0, .source = "test"});
  CHECK(tiny.depth == kernels::kLanes);
  CHECK(tiny.rows == kernels::kTileRows);
}
