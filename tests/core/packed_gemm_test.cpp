// kernels::packed_gemm against a plain triple loop in double: edge tiles in both
// directions, A and B stored transposed, accumulation, bias, more than one block of every
// kind (blocks made small on purpose), and strided sub-blocks; the thread split gives the
// serial bits; the block sizes and the kernel choice follow the cache sizes.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/cpu_caches.h"
#include "core/generator.h"
#include "core/ops/gemm_dispatch.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/packed_gemm.h"
#include "core/ops/product_threads.h"
#include "core/ops/vector_tile.h"

using namespace qkv;

namespace {
struct PackedCase {
  int64_t m, n, k;
  bool a_transposed, b_transposed, accumulate, bias;
};

// Blocks far smaller than any cache gives, so that small products cross every loop.
const kernels::PackedBlocks kTinyBlocks{.depth = 8, .rows = 2 * kernels::kTileRows,
                                        .columns = kernels::kTileColumns};

void check_packed(const PackedCase& c, const kernels::PackedBlocks& blocks, Generator& gen) {
  // Leading dimensions wider than the product, so rows are not contiguous.
  const int64_t lda = (c.a_transposed ? c.m : c.k) + 3, ldb = (c.b_transposed ? c.k : c.n) + 5, ldc = c.n + 2;
  std::vector<Scalar> a((c.a_transposed ? c.k : c.m) * lda + 1), b((c.b_transposed ? c.n : c.k) * ldb + 1),
      out(c.m * ldc + 1), bias(c.n);
  for (auto* v : {&a, &b, &out, &bias})
    for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
  const std::vector<Scalar> before = out;
  const Scalar alpha = 0.75;
  kernels::packed_gemm(c.m, c.n, c.k, alpha, kernels::StridedMatrix::row_major(a.data(), lda, c.a_transposed),
                       kernels::StridedMatrix::row_major(b.data(), ldb, c.b_transposed), out.data(), ldc,
                       c.accumulate, c.bias ? bias.data() : nullptr, blocks);
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
        sum += double(c.a_transposed ? a[p * lda + i] : a[i * lda + p]) *
               double(c.b_transposed ? b[j * ldb + p] : b[p * ldb + j]);
      const double expected =
          alpha * sum + (c.accumulate ? double(before[at]) : 0.0) + (c.bias ? double(bias[j]) : 0.0);
      worst = std::max(worst, std::abs(expected - double(out[at])) / (1 + std::sqrt(double(c.k))));
    }
  INFO("m " << c.m << " n " << c.n << " k " << c.k << " a^T " << c.a_transposed << " b^T " << c.b_transposed
            << " accumulate " << c.accumulate << " bias " << c.bias);
  CHECK(worst < (sizeof(Scalar) == 4 ? 1e-5 : 1e-13));
}
}  // namespace

TEST_CASE("packed_gemm matches a triple loop across edge tiles, transposes and blocks", "[kernels][packed]") {
  Generator gen(21);
  for (int64_t m : {1, 6, 7, 13, 30})
    for (int64_t n : {1, 17, 64, 65, 150})
      for (int64_t k : {1, 8, 9, 40})
        for (bool ta : {false, true})
          for (bool tb : {false, true}) check_packed({m, n, k, ta, tb, (m + n) % 2 == 1, (n + k) % 2 == 0}, kTinyBlocks, gen);
}

TEST_CASE("packed_gemm with this CPU's blocks, accumulating with a bias", "[kernels][packed]") {
  Generator gen(22);
  const kernels::PackedBlocks blocks = kernels::packed_blocks(cpu_caches());
  for (bool ta : {false, true}) check_packed({70, 200, blocks.depth + 3, ta, !ta, true, true}, blocks, gen);
}

TEST_CASE("packed_gemm with no depth writes zeros (or the bias), or leaves C when accumulating", "[kernels][packed]") {
  Generator gen(23);
  for (bool accumulate : {false, true})
    for (bool bias : {false, true}) check_packed({7, 40, 0, false, false, accumulate, bias}, kTinyBlocks, gen);
}

TEST_CASE("parallel_packed_gemm gives the serial bits on any split", "[kernels][packed][threads]") {
  Generator gen(24);
  kernels::set_parallel_product_grain(0);  // split these small products whatever this machine measured
  // Taller and wider than long, one panel of A (its tasks then split the block of B), A and
  // B stored transposed, accumulating: the threads share the packed blocks and take the
  // panels in any order, and every element still sees the serial sums.
  for (auto [m, n] : {std::pair<int64_t, int64_t>{301, 45}, {45, 301}, {6, 301}})
    for (bool transposed : {false, true}) {
      const int64_t k = 70;
      std::vector<Scalar> a(m * k), b(k * n), bias(n), serial(m * n), parallel;
      for (auto* v : {&a, &b, &bias, &serial})
        for (Scalar& x : *v) x = static_cast<Scalar>(gen.normal());
      parallel = serial;
      const auto lhs = kernels::StridedMatrix::row_major(a.data(), transposed ? m : k, transposed);
      const auto rhs = kernels::StridedMatrix::row_major(b.data(), transposed ? k : n, transposed);
      kernels::packed_gemm(m, n, k, 1, lhs, rhs, serial.data(), n, transposed, bias.data(), kTinyBlocks);
      kernels::parallel_packed_gemm(m, n, k, 1, lhs, rhs, parallel.data(), n, transposed, bias.data(), kTinyBlocks);
      INFO("m " << m << " n " << n << " transposed " << transposed);
      CHECK(serial == parallel);  // the same tiles and depth blocks, so the same sums in the same order
    }
  kernels::set_parallel_product_grain(-1);
}

TEST_CASE("packed blocks follow the cache sizes", "[kernels][packed]") {
  const int64_t s = sizeof(Scalar);
  const CpuCaches small{.l1d = 32 << 10, .l2 = 256 << 10, .l3 = 0, .source = "test"};
  const CpuCaches large{.l1d = 48 << 10, .l2 = 2 << 20, .l3 = 32 << 20, .source = "test"};
  for (const CpuCaches& caches : {small, large}) {
    const kernels::PackedBlocks blocks = kernels::packed_blocks(caches);
    INFO("L1 " << caches.l1d << " L2 " << caches.l2 << " L3 " << caches.l3);
    // A panel of A in a quarter of the L1, a block of B in half the L2, a block of A in half
    // the L3 (the L2 without one), each within one step of its multiple.
    CHECK(kernels::kTileRows * blocks.depth * s <= caches.l1d / 4);
    CHECK(kernels::kTileRows * (blocks.depth + kernels::kLanes) * s > caches.l1d / 4);
    CHECK(blocks.depth * blocks.columns * s <= caches.l2 / 2);
    CHECK(blocks.depth * (blocks.columns + kernels::kTileColumns) * s > caches.l2 / 2);
    CHECK(blocks.columns % kernels::kTileColumns == 0);
    CHECK(blocks.rows % kernels::kTileRows == 0);
    CHECK(blocks.rows * blocks.depth * s <= (caches.l3 > 0 ? caches.l3 : caches.l2) / 2);
  }
  // A bigger L2 takes wider blocks of B.
  CHECK(kernels::packed_blocks(large).columns > kernels::packed_blocks(small).columns);
}

TEST_CASE("the kernel choice follows the L2 size, not a fixed product size", "[kernels][packed]") {
  const CpuCaches small{.l1d = 32 << 10, .l2 = 256 << 10, .l3 = 0, .source = "test"};
  const CpuCaches large{.l1d = 48 << 10, .l2 = 32 << 20, .l3 = 0, .source = "test"};
  using kernels::GemmKernel;
  // 1024^3: B (4 MiB) outgrows a 256 KiB L2, not a 32 MiB one.
  CHECK(kernels::choose_gemm_kernel(1024, 1024, 1024, small) == GemmKernel::packed);
  CHECK(kernels::choose_gemm_kernel(1024, 1024, 1024, large) == GemmKernel::direct);
  // B in the L2: direct whatever the rows.
  CHECK(kernels::choose_gemm_kernel(100000, 64, 64, small) == GemmKernel::direct);
  // B too large, but C too narrow to reuse a packed panel of A: direct.
  CHECK(kernels::choose_gemm_kernel(4096, kernels::packed_blocks(small).columns, 4096, small) == GemmKernel::direct);
}

TEST_CASE("products whose passes over C outgrow the L2 go to packed_gemm", "[kernels][packed]") {
  // An L1 that holds 192 rows of a register tile and a 2 MiB L2: direct_gemm's depth block
  // is 192 and its row block 682 rounded down to whole tiles (678 with AVX-512's 6-row
  // tile, 680 with AVX2's 4). The L1 is sized from the tile, whose width is the vector
  // width's, so that the cases below hold with every instruction set.
  const int64_t s = sizeof(Scalar);
  const CpuCaches caches{.l1d = 192 * kernels::kTileColumns * s, .l2 = 2 << 20, .l3 = 0, .source = "test"};
  const kernels::DirectBlocks direct = kernels::direct_blocks(caches);
  REQUIRE(direct.depth == 192);
  REQUIRE(direct.rows == 682 / kernels::kTileRows * kernels::kTileRows);
  using kernels::GemmKernel;
  // [2048 x 256] x [256 x 1024]: B is 1 MiB, in the L2, but a row block of C is about
  // 680 x 1024 floats (2.7 MiB) and k = 256 takes two passes over it.
  CHECK(kernels::choose_gemm_kernel(2048, 1024, 256, caches) == GemmKernel::packed);
  // The same C with k = 128: one pass, C written once.
  CHECK(kernels::choose_gemm_kernel(2048, 1024, 128, caches) == GemmKernel::direct);
  // k = 512 over 128 columns: C's row block and A's (0.3 + 0.5 MiB) fit in half the L2.
  CHECK(kernels::choose_gemm_kernel(2048, 128, 512, caches) == GemmKernel::direct);
  // Few rows: 256 x (n + 192) floats pass half the L2 only from n = 833.
  CHECK(kernels::choose_gemm_kernel(256, 832, 2048, caches) == GemmKernel::direct);
  CHECK(kernels::choose_gemm_kernel(256, 833, 2048, caches) == GemmKernel::packed);
}

TEST_CASE("cache sizes parse as sysfs writes them", "[kernels]") {
  CHECK(parse_cache_size("48K") == 48 << 10);
  CHECK(parse_cache_size("1024K") == 1 << 20);
  CHECK(parse_cache_size("32M") == 32 << 20);
  CHECK(parse_cache_size("65536") == 65536);
  CHECK(parse_cache_size("") == 0);
  CHECK(parse_cache_size("big") == 0);
  CHECK(parse_cache_size("12Q") == 0);
  const CpuCaches& here = cpu_caches();
  CHECK(here.l1d > 0);
  CHECK(here.l2 > 0);
}
