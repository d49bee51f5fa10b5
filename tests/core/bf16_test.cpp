// bf16 mode: float -> bfloat16 rounding by hand; bf16_gemm (both kernels) against a double
// product of the bf16-rounded operands (equal up to float32 accumulation error) and
// against the float32 product (equal up to the operands' rounding, and not equal: the
// operands were rounded); the thread split gives the serial bits; matmul and linear
// follow the scoped, per-thread precision switch, forward and backward, and run in bf16
// only the products where choose_product_precision says it pays.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/ops/bf16.h"
#include "core/ops/bf16_gemm.h"
#include "core/ops/gemm_dispatch.h"
#include "core/ops/product_threads.h"
#include "core/parallel.h"
#include "core/precision.h"

#include "bf16_pays.h"

using namespace qkv;
using kernels::bf16_to_float;
using kernels::float_to_bf16;

namespace {
float from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
float rounded(float x) { return bf16_to_float(float_to_bf16(x)); }
}  // namespace

TEST_CASE("float to bf16 rounds to nearest, ties to even", "[bf16]") {
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(float_to_bf16(-2.0f) == 0xc000);
  CHECK(bf16_to_float(0x3f80) == 1.0f);
  // 1 + 2^-8 lies halfway between 1 (0x3f80) and 1 + 2^-7 (0x3f81): the even one wins.
  CHECK(float_to_bf16(from_bits(0x3f808000)) == 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 0x3f81 and 0x3f82: again the even one, now upward.
  CHECK(float_to_bf16(from_bits(0x3f818000)) == 0x3f82);
  // Just above and below a tie.
  CHECK(float_to_bf16(from_bits(0x3f808001)) == 0x3f81);
  CHECK(float_to_bf16(from_bits(0x3f807fff)) == 0x3f80);
  // pi = 0x40490fdb: 0x4049 + (0x0fdb < 0x8000) -> 3.140625.
  CHECK(rounded(3.14159265f) == 3.140625f);
}

TEST_CASE("float to bf16 keeps infinities, NaNs and subnormals", "[bf16]") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(float_to_bf16(inf) == 0x7f80);
  CHECK(float_to_bf16(-inf) == 0xff80);
  // The largest float is nearer 2^128 than the largest bfloat16: it overflows to infinity.
  CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
  // A NaN whose payload lies only in the low half would round to infinity; it stays NaN.
  CHECK(std::isnan(bf16_to_float(float_to_bf16(from_bits(0x7f800001)))));
  CHECK(float_to_bf16(from_bits(0xff800001)) >> 15 == 1);  // its sign too
  CHECK(std::isnan(rounded(std::numeric_limits<float>::quiet_NaN())));
  // Subnormals: 0x00018000 is halfway between 0x0001 and 0x0002 (to even: 2); 0x00008000
  // halfway between 0 and the smallest bf16 subnormal 2^-133 (to even: 0); 0x0000c000 above.
  CHECK(float_to_bf16(from_bits(0x00018000)) == 0x0002);
  CHECK(float_to_bf16(from_bits(0x00008000)) == 0x0000);
  CHECK(float_to_bf16(from_bits(0x0000c000)) == 0x0001);
  CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));
}

namespace {
struct GemmCase {
  int64_t m, n, k;
  bool a_transposed, b_transposed, bias;
};

struct Operands {
  std::vector<float> a, b, bias;
  int64_t lda, ldb;
};

Operands random_operands(const GemmCase& c, Generator& gen) {
  Operands x;
  x.lda = c.a_transposed ? c.m : c.k;
  x.ldb = c.b_transposed ? c.k : c.n;
  x.a.resize(c.m * c.k);
  x.b.resize(c.k * c.n);
  x.bias.resize(c.n);
  for (auto* v : {&x.a, &x.b, &x.bias})
    for (float& e : *v) e = static_cast<float>(gen.normal());
  return x;
}

float a_at(const GemmCase& c, const Operands& x, int64_t i, int64_t p) {
  return c.a_transposed ? x.a[p * x.lda + i] : x.a[i * x.lda + p];
}
float b_at(const GemmCase& c, const Operands& x, int64_t p, int64_t j) {
  return c.b_transposed ? x.b[j * x.ldb + p] : x.b[p * x.ldb + j];
}

std::vector<float> bf16_product(const GemmCase& c, const Operands& x, float alpha, kernels::Bf16Kernel kernel) {
  std::vector<float> out(c.m * c.n, std::numeric_limits<float>::quiet_NaN());
  kernels::bf16_gemm(c.m, c.n, c.k, alpha, kernels::StridedMatrix::row_major(x.a.data(), x.lda, c.a_transposed),
                     kernels::StridedMatrix::row_major(x.b.data(), x.ldb, c.b_transposed), out.data(),
                     c.bias ? x.bias.data() : nullptr, kernel);
  return out;
}

// Largest error of bf16_gemm against (1) the double product of the rounded operands, in
// units of float32 accumulation error ((k + 2) u sum |alpha a b| + |bias| u), and against
// (2) the exact product of the float operands, in units of the rounding error of the
// operands (2^-7 sum |alpha a b|: with 8 significant bits each operand is off by at most
// 2^-8 of itself), plus the accumulation error.
struct GemmErrors {
  double accumulation = 0, rounding = 0, largest_rounding_difference = 0;
};

GemmErrors compare(const GemmCase& c, const Operands& x, float alpha, const std::vector<float>& out) {
  constexpr double u = 1.0 / (1 << 24);
  GemmErrors e;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double of_rounded = 0, exact = 0, magnitude = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const double a = a_at(c, x, i, p), b = b_at(c, x, p, j);
        of_rounded += double(rounded(float(a))) * double(rounded(float(b)));
        exact += a * b;
        magnitude += std::abs(alpha * a * b);
      }
      const double bias = c.bias ? x.bias[j] : 0.0;
      const double got = out[i * c.n + j];
      e.accumulation = std::max(e.accumulation, std::abs(got - (alpha * of_rounded + bias)) /
                                                    ((c.k + 2) * u * magnitude + std::abs(bias) * u + 1e-30));
      e.rounding = std::max(e.rounding, std::abs(got - (alpha * exact + bias)) /
                                            (std::ldexp(magnitude, -7) + (c.k + 2) * u * magnitude + 1e-30));
      e.largest_rounding_difference = std::max(e.largest_rounding_difference, std::abs(got - (alpha * exact + bias)));
    }
  return e;
}

// Every kernel this CPU runs: AMX's CPUs have AVX512_BF16 too.
std::vector<kernels::Bf16Kernel> kernels_here() {
  std::vector<kernels::Bf16Kernel> out{kernels::Bf16Kernel::portable};
  const kernels::Bf16Kernel best = kernels::best_bf16_kernel();
  if (best == kernels::Bf16Kernel::portable) WARN("this CPU has no AVX512_BF16: only the portable kernel is tested");
  else out.push_back(kernels::Bf16Kernel::avx512_bf16);
  if (best == kernels::Bf16Kernel::amx) out.push_back(kernels::Bf16Kernel::amx);
  else WARN("this CPU (or its kernel) offers no AMX tiles: the AMX kernel is not tested here");
  return out;
}
}  // namespace

TEST_CASE("bf16_gemm equals the float product of the rounded operands, on every kernel", "[bf16][kernels]") {
  Generator gen(31);
  for (kernels::Bf16Kernel kernel : kernels_here())
    for (int64_t m : {1, 5, 6, 13, 37, 70})
      for (int64_t n : {1, 15, 64, 65, 130})
        for (int64_t k : {1, 2, 7, 45, 64, 97})
          for (bool ta : {false, true}) {
            const GemmCase c{m, n, k, ta, (m + k) % 2 == 1, (n + k) % 2 == 0};
            const Operands x = random_operands(c, gen);
            const GemmErrors e = compare(c, x, 0.75f, bf16_product(c, x, 0.75f, kernel));
            INFO(kernels::bf16_kernel_name(kernel) << ": m " << m << " n " << n << " k " << k << " a^T " << ta
                                                   << " b^T " << c.b_transposed << " bias " << c.bias);
            CHECK(e.accumulation <= 1);
            CHECK(e.rounding <= 1);
          }
}

TEST_CASE("bf16_gemm rounds its operands: it differs from float32, within bf16's error", "[bf16][kernels]") {
  // Deep enough to cross the depth blocks of this CPU's caches.
  Generator gen(32);
  const GemmCase c{40, 100, 2 * 2 * kernels::bf16_depth_block(cpu_caches()) + 3, false, true, true};
  const Operands x = random_operands(c, gen);
  for (kernels::Bf16Kernel kernel : kernels_here()) {
    const GemmErrors e = compare(c, x, 1.0f, bf16_product(c, x, 1.0f, kernel));
    INFO(kernels::bf16_kernel_name(kernel) << ", k " << c.k);
    CHECK(e.accumulation <= 1);
    CHECK(e.rounding <= 1);
    CHECK(e.largest_rounding_difference > 1e-3);  // float32 alone would be ~1e-5 here
  }
}

TEST_CASE("bf16_gemm gives the same bits on one thread and two", "[bf16][kernels]") {
  Generator gen(33);
  const int threads = num_threads();
  kernels::set_parallel_product_grain(0);  // split these small products whatever this machine measured
  for (const GemmCase& c : {GemmCase{300, 70, 90, false, false, true}, GemmCase{20, 400, 90, true, true, false}}) {
    const Operands x = random_operands(c, gen);
    set_num_threads(1);
    const std::vector<float> one = bf16_product(c, x, 1.0f, kernels::best_bf16_kernel());
    set_num_threads(2);
    const std::vector<float> two = bf16_product(c, x, 1.0f, kernels::best_bf16_kernel());
    CHECK(one == two);
  }
  kernels::set_parallel_product_grain(-1);
  set_num_threads(threads);
}

TEST_CASE("PrecisionScope sets this thread's precision and restores the one before", "[bf16]") {
  CHECK(matmul_precision() == Precision::float32);
  {
    PrecisionScope outer(Precision::bf16);
    CHECK(matmul_precision() == Precision::bf16);
    Precision elsewhere = Precision::bf16;
    std::thread([&] { elsewhere = matmul_precision(); }).join();
    CHECK(elsewhere == Precision::float32);
    {
      PrecisionScope inner(Precision::float32);
      CHECK(matmul_precision() == Precision::float32);
    }
    CHECK(matmul_precision() == Precision::bf16);
  }
  CHECK(matmul_precision() == Precision::float32);
  CHECK(parse_enum<Precision>("bf16", "precision") == Precision::bf16);
  CHECK_THROWS_WITH(parse_enum<Precision>("fp16", "precision"), Catch::Contains("'fp16'") && Catch::Contains("bf16"));
}

TEST_CASE("choose_product_precision keeps float32 where bf16 cannot win", "[bf16]") {
  const CpuCaches caches{.l1d = 48 << 10, .l2 = 1 << 20, .l3 = 32 << 20, .source = "test"};
  auto choose = [&](int64_t m, int64_t n, int64_t k, Precision p = Precision::bf16) {
    return kernels::choose_product_precision(m, n, k, p, caches);
  };
  CHECK(choose(2048, 256, 256) == Precision::bf16);
  CHECK(choose(2048, 256, 256, Precision::float32) == Precision::float32);
  // Narrower than one panel: its zero columns would be multiplied too.
  CHECK(choose(2048, kernels::kBf16PanelColumns, 256) == Precision::bf16);
  CHECK(choose(2048, kernels::kBf16PanelColumns - 1, 256) == Precision::float32);
  // A within the L1 cache (64 x 64 floats: 16 KiB): too little reuse of the rounded B.
  CHECK(choose(64, 256, 64) == Precision::float32);
  constexpr int64_t rows_filling_l1 = (48 << 10) / (64 * sizeof(float));
  CHECK(choose(rows_filling_l1, 256, 64) == Precision::float32);
  CHECK(choose(rows_filling_l1 + 1, 256, 64) == Precision::bf16);
  // The same shape on a CPU with a smaller L1 cache.
  const CpuCaches small_l1{.l1d = 8 << 10, .l2 = 1 << 20, .l3 = 0, .source = "test"};
  CHECK(kernels::choose_product_precision(64, 256, 64, Precision::bf16, small_l1) == Precision::bf16);
}

// Whether x [rows, in] W [in, out] under a bf16 scope gives the float32 product's bits.
bool bf16_scope_gives_float32_bits(int64_t rows, int64_t in, int64_t out, uint64_t seed) {
  Generator gen(seed);
  const Tensor x = Tensor::randn({rows, in}, gen), w = Tensor::randn({in, out}, gen);
  Tensor y16;
  {
    PrecisionScope bf16(Precision::bf16);
    y16 = linear(x, w, Tensor());
  }
  const Tensor y32 = linear(x, w, Tensor());
  return std::vector<float>(y16.data(), y16.data() + y16.numel()) == std::vector<float>(y32.data(), y32.data() + y32.numel());
}

TEST_CASE("bf16 runs where it measured 10% faster than float32, else the products stay float32", "[bf16]") {
  CHECK(kernels::Bf16Rates{100, 111}.pays());
  CHECK_FALSE(kernels::Bf16Rates{100, 109}.pays());
  CHECK_FALSE(kernels::Bf16Rates{200, 115}.pays());  // an Intel Xeon's rates (docs/precision.md)
  const kernels::Bf16Rates& measured = kernels::measured_bf16_rates();
  INFO("float32 " << measured.float32_gflops << " GFLOP/s, bf16 " << measured.bf16_gflops);
  // Both measured (a sanitizer build runs at about 1 GFLOP/s, so no floor above zero).
  CHECK(measured.float32_gflops > 0);
  CHECK(measured.bf16_gflops > 0);
  CHECK(std::isfinite(measured.float32_gflops + measured.bf16_gflops));
  CHECK(kernels::bf16_pays() == measured.pays());

  // Where it does not pay, a bf16 scope gives float32's bits on a product the shape rule
  // would give to bf16.
  kernels::set_bf16_pays(false);
  REQUIRE(kernels::choose_product_precision(256, 80, 96, Precision::bf16, cpu_caches()) == Precision::bf16);
  CHECK(bf16_scope_gives_float32_bits(256, 96, 80, 37));
  kernels::set_bf16_pays(std::nullopt);
}

TEST_CASE("linear under a bf16 scope gives the bits of add(matmul(x, W), b), past one depth block", "[bf16]") {
  // Depths of one, two and three blocks of pairs (bf16_depth_block), the bias added after
  // the last.
  const testing::Bf16Pays bf16_here;
  const int64_t pairs = kernels::bf16_depth_block(cpu_caches());
  Generator gen(35);
  for (int64_t in : {int64_t(96), 2 * pairs + 1, 5 * pairs}) {
    REQUIRE(kernels::choose_product_precision(256, 80, in, Precision::bf16, cpu_caches()) == Precision::bf16);
    const Tensor x = Tensor::randn({256, in}, gen), w = Tensor::randn({in, 80}, gen), b = Tensor::randn({80}, gen);
    PrecisionScope bf16(Precision::bf16);
    const Tensor fused = linear(x, w, b), apart = add(matmul(x, w), b);
    INFO("in " << in);
    CHECK(std::equal(fused.data(), fused.data() + fused.numel(), apart.data()));
  }
}

TEST_CASE("linear under a bf16 scope rounds the operands of its forward and backward products", "[bf16]") {
  // Shapes where all three products (x W, G W^T, x^T G) run in bf16 on this CPU.
  const testing::Bf16Pays bf16_here;
  constexpr int64_t kRows = 256, kIn = 96, kOut = 80;
  const CpuCaches& caches = cpu_caches();
  REQUIRE(kernels::choose_product_precision(kRows, kOut, kIn, Precision::bf16, caches) == Precision::bf16);
  REQUIRE(kernels::choose_product_precision(kRows, kIn, kOut, Precision::bf16, caches) == Precision::bf16);
  REQUIRE(kernels::choose_product_precision(kIn, kOut, kRows, Precision::bf16, caches) == Precision::bf16);
  Generator gen(34);
  const Tensor x = Tensor::randn({kRows, kIn}, gen).requires_grad_();
  const Tensor w = Tensor::randn({kIn, kOut}, gen).requires_grad_();
  const Tensor b = Tensor::randn({kOut}, gen).requires_grad_();
  const Tensor g = Tensor::randn({kRows, kOut}, gen);
  Tensor y;
  {
    PrecisionScope bf16(Precision::bf16);
    y = linear(x, w, b);
    sum(mul(y, g)).backward();
  }
  // The same products in double from the rounded operands: y = x W + b, dx = G W^T, dW = x^T G.
  auto r = [](const Tensor& t, int64_t i) { return double(rounded(t.data()[i])); };
  double worst_y = 0, worst_dx = 0, worst_dw = 0;
  for (int64_t i = 0; i < kRows; ++i)
    for (int64_t j = 0; j < kOut; ++j) {
      double s = b.data()[j];
      for (int64_t p = 0; p < kIn; ++p) s += r(x, i * kIn + p) * r(w, p * kOut + j);
      worst_y = std::max(worst_y, std::abs(s - y.data()[i * kOut + j]));
    }
  for (int64_t i = 0; i < kRows; ++i)
    for (int64_t p = 0; p < kIn; ++p) {
      double s = 0;
      for (int64_t j = 0; j < kOut; ++j) s += r(g, i * kOut + j) * r(w, p * kOut + j);
      worst_dx = std::max(worst_dx, std::abs(s - x.grad().data()[i * kIn + p]));
    }
  for (int64_t p = 0; p < kIn; ++p)
    for (int64_t j = 0; j < kOut; ++j) {
      double s = 0;
      for (int64_t i = 0; i < kRows; ++i) s += r(x, i * kIn + p) * r(g, i * kOut + j);
      worst_dw = std::max(worst_dw, std::abs(s - w.grad().data()[p * kOut + j]));
    }
  // Sums of 80 to 256 products of unit normals: float32's accumulation error is ~1e-5.
  CHECK(worst_y < 1e-3);
  CHECK(worst_dx < 1e-3);
  CHECK(worst_dw < 1e-3);
  // Out of the scope, the float32 kernels again: not the bf16-rounded result.
  const Tensor y32 = linear(x.detach(), w.detach(), b.detach());
  double differs = 0;
  for (int64_t i = 0; i < y.numel(); ++i) differs = std::max(differs, double(std::abs(y32.data()[i] - y.data()[i])));
  CHECK(differs > 1e-2);
}

TEST_CASE("a product where bf16 cannot win runs in float32 under a bf16 scope", "[bf16]") {
  REQUIRE(kernels::choose_product_precision(9, 17, 33, Precision::bf16, cpu_caches()) == Precision::float32);
  CHECK(bf16_scope_gives_float32_bits(9, 33, 17, 36));
}

TEST_CASE("matmul under a bf16 scope, batched and transposed, matches the rounded product", "[bf16]") {
  const testing::Bf16Pays bf16_here;
  constexpr int64_t kBatch = 3, kM = 40, kN = 70, kK = 600;
  REQUIRE(kernels::choose_product_precision(kM, kN, kK, Precision::bf16, cpu_caches()) == Precision::bf16);
  Generator gen(35);
  const Tensor a = Tensor::randn({kBatch, kM, kK}, gen), b = Tensor::randn({kBatch, kN, kK}, gen);
  Tensor c;
  {
    PrecisionScope bf16(Precision::bf16);
    c = matmul(a, b, {.transpose_b = true});
  }
  double worst = 0;
  for (int64_t t = 0; t < kBatch; ++t)
    for (int64_t i = 0; i < kM; ++i)
      for (int64_t j = 0; j < kN; ++j) {
        double s = 0;
        for (int64_t p = 0; p < kK; ++p)
          s += double(rounded(a.data()[(t * kM + i) * kK + p])) * double(rounded(b.data()[(t * kN + j) * kK + p]));
        worst = std::max(worst, std::abs(s - c.data()[(t * kM + i) * kN + j]));
      }
  CHECK(worst < 1e-3);  // sums of 600 products of unit normals: float32 error ~1e-5
}
