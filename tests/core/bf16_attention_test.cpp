// The fused attention in bf16 mode: its block product (kernels::bf16_block_product) against
// a double product of the rounded operands, from offsets inside a packed B, on every kernel
// this CPU has; then flex_attention under a bf16 scope against float32, forward and
// backward, across key blocks, with masks, a score_mod and grouped heads: close to float32
// (bf16's error), and not equal to it (the operands were rounded).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/gradcheck.h"
#include "core/masks.h"
#include "core/ops.h"
#include "core/ops/bf16.h"
#include "core/ops/bf16_gemm.h"
#include "core/ops/gemm_dispatch.h"
#include "core/precision.h"
#include "layers/attention.h"
#include "layers/score_mods.h"

#include "bf16_pays.h"

using namespace qkv;

namespace {
float bf16_rounded(float x) { return kernels::bf16_to_float(kernels::float_to_bf16(x)); }

std::vector<kernels::Bf16Kernel> block_kernels_here() {
  std::vector<kernels::Bf16Kernel> out{kernels::Bf16Kernel::portable};
  if (kernels::block_bf16_kernel() == kernels::Bf16Kernel::avx512_bf16) out.push_back(kernels::Bf16Kernel::avx512_bf16);
  else WARN("this CPU has no AVX512_BF16: only the portable block kernel is tested");
  return out;
}

std::vector<float> random_floats(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = static_cast<float>(gen.normal());
  return v;
}
}  // namespace

TEST_CASE("bf16_block_product equals the double product of the rounded operands, from any offset", "[bf16][kernels]") {
  constexpr int64_t kRowsB = 70, kColsB = 150;  // B [70, 150], packed once
  constexpr double u = 1.0 / (1 << 24);
  Generator gen(41);
  for (kernels::Bf16Kernel kernel : block_kernels_here())
    for (bool b_transposed : {false, true}) {
      const std::vector<float> b = random_floats(kRowsB * kColsB, gen);
      const int64_t ldb = b_transposed ? kRowsB : kColsB;
      auto b_at = [&](int64_t p, int64_t j) { return b_transposed ? b[j * ldb + p] : b[p * ldb + j]; };
      kernels::Bf16PackedB packed;
      packed.pack(kernels::StridedMatrix::row_major(b.data(), ldb, b_transposed), kRowsB, kColsB, kernel);
      for (int64_t p0 : {0, 6, 32})
        for (int64_t j0 : {0, 16, 48, 5})  // 5: not a whole vector, run by the portable kernel
          for (int64_t m : {1, 6, 13, 30})  // tiles are 6 x 4, 8 x 3, 12 x 2 or 24 x 1 vectors
            for (int64_t k : {1, 7, 30})
              for (int64_t n : {1, 17, 64, 70})
                for (bool a_transposed : {false, true})
                  for (bool accumulate : {false, true}) {
                    if (p0 + k > kRowsB || j0 + n > kColsB) continue;
                    const std::vector<float> a = random_floats(m * k, gen);
                    const int64_t lda = a_transposed ? m : k, ldc = n + 3;
                    std::vector<float> c = random_floats(m * ldc, gen);
                    const std::vector<float> before = c;
                    const float alpha = 0.75f;
                    kernels::bf16_block_product(m, n, k, alpha,
                                                kernels::StridedMatrix::row_major(a.data(), lda, a_transposed), packed,
                                                p0, j0, c.data(), ldc, accumulate, kernel);
                    double worst = 0;
                    for (int64_t i = 0; i < m; ++i)
                      for (int64_t j = 0; j < n; ++j) {
                        double sum = 0, magnitude = 0;
                        for (int64_t p = 0; p < k; ++p) {
                          const float av = a_transposed ? a[p * lda + i] : a[i * lda + p];
                          const double term = double(bf16_rounded(av)) * double(bf16_rounded(b_at(p0 + p, j0 + j)));
                          sum += term;
                          magnitude += std::abs(alpha * term);
                        }
                        const double start = accumulate ? before[i * ldc + j] : 0.0;
                        const double got = c[i * ldc + j];
                        worst = std::max(worst, std::abs(got - (alpha * sum + start)) /
                                                    ((k + 2) * u * magnitude + std::abs(start) * u + 1e-30));
                      }
                    // Columns past n are left alone.
                    bool untouched = true;
                    for (int64_t i = 0; i < m; ++i)
                      for (int64_t j = n; j < ldc; ++j) untouched = untouched && c[i * ldc + j] == before[i * ldc + j];
                    INFO(kernels::bf16_kernel_name(kernel) << ": B^T " << b_transposed << " p0 " << p0 << " j0 " << j0
                                                           << " m " << m << " k " << k << " n " << n << " A^T "
                                                           << a_transposed << " accumulate " << accumulate);
                    CHECK(worst <= 1);
                    CHECK(untouched);
                  }
    }
}

TEST_CASE("bf16_block_product refuses a depth that starts inside a pair", "[bf16][kernels]") {
  std::vector<float> a(4, 1.0f), b(16, 1.0f), c(4, 0.0f);
  kernels::Bf16PackedB packed;
  packed.pack(kernels::StridedMatrix::row_major(b.data(), 4), 4, 4, kernels::Bf16Kernel::portable);
  CHECK_THROWS_WITH(kernels::bf16_block_product(1, 4, 2, 1.0f, kernels::StridedMatrix::row_major(a.data(), 2), packed, 1,
                                                0, c.data(), 4, false, kernels::Bf16Kernel::portable),
                    Catch::Contains("even row"));
}

namespace {
struct AttentionRun {
  std::vector<float> out, gq, gk, gv;
};

std::vector<float> tensor_values(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }

// flex_attention forward and backward at the given precision, packed heads [B, N, H * d].
AttentionRun run_attention(Precision precision, int64_t n, int64_t heads, int64_t kv_heads,
                           const FlexAttentionOptions& base, uint64_t seed, int64_t width = 64) {
  constexpr int64_t kBatch = 2;
  Generator gen(seed);
  Tensor q = Tensor::randn({kBatch, n, heads * width}, gen).requires_grad_();
  Tensor k = Tensor::randn({kBatch, n, kv_heads * width}, gen).requires_grad_();
  Tensor v = Tensor::randn({kBatch, n, kv_heads * width}, gen).requires_grad_();
  const Tensor g = Tensor::randn(q.shape(), gen);
  FlexAttentionOptions options = base;
  options.heads = heads;
  options.kv_heads = kv_heads;
  options.scale = 1 / std::sqrt(Scalar(width));
  PrecisionScope scope(precision);
  const Tensor out = flex_attention(q, k, v, options).output;
  sum(mul(out, g)).backward();
  return {tensor_values(out), tensor_values(q.grad()), tensor_values(k.grad()), tensor_values(v.grad())};
}

// max |a - b| / max |b|.
double largest_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(b[i])));
  }
  return diff / scale;
}
}  // namespace

TEST_CASE("flex_attention under a bf16 scope runs its products in bf16, forward and backward", "[bf16]") {
  kernels::set_bf16_pays(true);  // the bf16 path under test on any CPU, also where it does not pay
  struct Case {
    const char* name;
    int64_t n, heads, kv_heads;
    FlexAttentionOptions options;
    int64_t width = 64;  // of a head
  };
  FlexAttentionOptions causal_softcap;
  causal_softcap.mask_mod = causal_mask();
  causal_softcap.score_mods = {std::make_shared<SoftcapMod>(5)};
  FlexAttentionOptions window;
  window.mask_mod = sliding_window_mask(100, true);
  // 300 keys: one key block, weights kept; 600: two key blocks, recomputed in the backward.
  const std::vector<Case> cases{{"unmasked", 300, 2, 2, {}},
                                {"causal, softcap", 300, 2, 2, causal_softcap},
                                {"unmasked, two key blocks", 600, 2, 2, {}},
                                {"causal, softcap, two key blocks", 600, 2, 2, causal_softcap},
                                {"grouped heads, sliding window", 300, 4, 2, window},
                                {"heads of 80, causal, softcap", 300, 2, 2, causal_softcap, 80},
                                // Q K^T and dO V^T in bf16, the products as wide as a head in float32
                                {"heads of 32, causal, softcap", 300, 2, 2, causal_softcap, 32}};
  for (const Case& c : cases) {
    const AttentionRun f32 = run_attention(Precision::float32, c.n, c.heads, c.kv_heads, c.options, 7, c.width);
    const AttentionRun b16 = run_attention(Precision::bf16, c.n, c.heads, c.kv_heads, c.options, 7, c.width);
    for (auto [what, got, want] : {std::tuple{"output", &b16.out, &f32.out}, std::tuple{"dq", &b16.gq, &f32.gq},
                                   std::tuple{"dk", &b16.gk, &f32.gk}, std::tuple{"dv", &b16.gv, &f32.gv}}) {
      const double difference = largest_relative_difference(*got, *want);
      INFO(c.name << ", " << what << ": bf16 against float32, largest difference " << difference << " of the largest entry");
      CHECK(difference < 2e-2);   // operands off by at most 2^-8 each
      CHECK(difference > 1e-5);   // float32's own rounding would stay below this: bf16 ran
    }
  }
  kernels::set_bf16_pays(std::nullopt);
}

TEST_CASE("where bf16 cannot pay, a bf16 scope leaves the fused attention at float32's bits", "[bf16]") {
  FlexAttentionOptions causal;
  causal.mask_mod = causal_mask();
  // On a CPU where it measured slower; and where no product's output fills one panel:
  // heads of 48 and 48 keys (48 < 64).
  for (auto [pays, n, width] : {std::tuple{false, int64_t(200), kernels::kBf16PanelColumns},
                                std::tuple{true, int64_t(48), int64_t(48)}}) {
    INFO("bf16 pays " << pays << ", keys " << n << ", head width " << width);
    kernels::set_bf16_pays(pays);
    const AttentionRun f32 = run_attention(Precision::float32, n, 2, 2, causal, 9, width);
    const AttentionRun b16 = run_attention(Precision::bf16, n, 2, 2, causal, 9, width);
    CHECK(b16.out == f32.out);
    CHECK(b16.gq == f32.gq);
    CHECK(b16.gk == f32.gk);
    CHECK(b16.gv == f32.gv);
  }
  // One panel of keys or of a head is enough for the products that wide.
  kernels::set_bf16_pays(true);
  for (auto [n, width] : {std::pair{int64_t(200), int64_t(48)}, std::pair{int64_t(48), kernels::kBf16PanelColumns}}) {
    INFO("keys " << n << ", head width " << width);
    const AttentionRun f32 = run_attention(Precision::float32, n, 2, 2, causal, 9, width);
    const AttentionRun b16 = run_attention(Precision::bf16, n, 2, 2, causal, 9, width);
    CHECK(b16.out != f32.out);
  }
  kernels::set_bf16_pays(std::nullopt);
}

TEST_CASE("attention_product_precision takes each class of products by the width of its output", "[bf16]") {
  const auto check = [](int64_t keys, int64_t d_k, int64_t d_v, Precision scores, Precision heads) {
    const AttentionProductPrecision got = attention_product_precision(keys, d_k, d_v);
    INFO("keys " << keys << ", d_k " << d_k << ", d_v " << d_v);
    CHECK(got.scores == scores);
    CHECK(got.heads == heads);
  };
  constexpr Precision f32 = Precision::float32, b16 = Precision::bf16;
  kernels::set_bf16_pays(true);
  {
    PrecisionScope scope(b16);
    check(256, 32, 32, b16, f32);   // medium's heads: blocks of scores in bf16, the head-wide products not
    check(48, 64, 64, f32, b16);    // 48 keys fill no panel
    check(2048, 64, 48, b16, f32);  // a head as wide as its narrower side, d_v here
    check(64, 64, 64, b16, b16);
    check(63, 63, 63, f32, f32);
  }
  check(256, 64, 64, f32, f32);  // outside a bf16 scope
  kernels::set_bf16_pays(false);
  {
    PrecisionScope scope(b16);
    check(256, 64, 64, f32, f32);  // where bf16 does not pay
  }
  kernels::set_bf16_pays(std::nullopt);
}

TEST_CASE("bf16_block_product with an odd depth reads nothing of B past it", "[bf16][kernels]") {
  // B [4, 80]: row 3, just past the depth of 3, is infinite. A's padding pairs it with a
  // zero, and 0 * inf would be NaN if it were read.
  std::vector<float> b(4 * 80, 0.5f);
  std::fill(b.begin() + 3 * 80, b.end(), std::numeric_limits<float>::infinity());
  for (kernels::Bf16Kernel kernel : block_kernels_here()) {
    kernels::Bf16PackedB packed;
    packed.pack(kernels::StridedMatrix::row_major(b.data(), 80), 4, 80, kernel);
    const std::vector<float> a(7 * 3, 2.0f);  // A [7, 3]
    std::vector<float> c(7 * 80, -1.0f);
    kernels::bf16_block_product(7, 80, 3, 1.0f, kernels::StridedMatrix::row_major(a.data(), 3), packed, 0, 0, c.data(),
                                80, false, kernel);
    INFO(kernels::bf16_kernel_name(kernel));
    CHECK(c == std::vector<float>(7 * 80, 3.0f));  // 3 x 2 x 0.5, exact in bf16
  }
}

TEST_CASE("bf16 products read a subnormal operand as a zero of its sign, on every kernel", "[bf16][kernels]") {
  // vcvtne2ps2bf16 and vdpbf16ps treat subnormal inputs as zero; the portable packing and
  // kernel do the same, so every kernel gives the same bits.
  const float tiny = std::ldexp(0.75f, -130), one = 1.0f;
  CHECK(kernels::operand_to_bf16(tiny) == 0x0000);
  CHECK(kernels::operand_to_bf16(-tiny) == 0x8000);
  CHECK(kernels::operand_to_bf16(std::ldexp(1.0f, -126)) == kernels::float_to_bf16(std::ldexp(1.0f, -126)));
  for (kernels::Bf16Kernel kernel : block_kernels_here()) {
    INFO(kernels::bf16_kernel_name(kernel));
    // tiny * 2^100 would be a normal 7e-10: read as 0, it is 0; 1 * 2^100 is kept.
    const std::vector<float> a{tiny, one}, b{std::ldexp(1.0f, 100)};  // A [2, 1], B [1, 1]
    std::vector<float> c(2, -1.0f);
    kernels::bf16_gemm(2, 1, 1, 1.0f, kernels::StridedMatrix::row_major(a.data(), 1),
                       kernels::StridedMatrix::row_major(b.data(), 1), c.data(), nullptr, kernel);
    CHECK(c == std::vector<float>{0.0f, std::ldexp(1.0f, 100)});
  }
}

// In bf16 a self-attention projects Q, K and V with one product (layers/attention.cpp)
// where each of the three would run in bf16. Each element of that product sums the same
// terms in the same order as the three did, so the output and every weight's gradient keep
// their bits; only x's gradient, one product over the three weights instead of three added,
// may differ in float32's last bits.
namespace {
// The op that produced the input of the attention's output projection.
std::string attention_op(const Tensor& out) { return out.autograd_meta()->grad_fn->inputs[0]->grad_fn->op; }
}  // namespace

TEST_CASE("MultiHeadAttention in bf16 projects Q, K and V with one product, to the bits of three", "[bf16]") {
  const testing::Bf16Pays pays(true);
  Generator gen(3);
  // A [256, 128] input: more than an L1 cache holds, and projections at least one bf16
  // panel wide (128 and 64), so that each of the three runs in bf16.
  MultiHeadAttention attention({.d_model = 128, .heads = 4, .causal = true, .kv_heads = 2}, gen);
  for (Tensor p : attention.parameters())  // nonzero biases too
    for (int64_t i = 0; i < p.numel(); i += 7) p.data()[i] += 0.01f * static_cast<float>(i % 5 + 1);
  const Tensor x0 = Tensor::randn({4, 64, 128}, gen), g = Tensor::randn({4, 64, 128}, gen);
  const PrecisionScope bf16(Precision::bf16);
  struct Run {
    std::string op;
    Tensor out, gx;
    std::vector<Tensor> grads;
  };
  auto run = [&](bool self) {
    attention.zero_grad();
    const Tensor x = x0.clone().requires_grad_(), other = x0.clone().requires_grad_();
    Run r;
    r.out = (self ? attention.forward(x, {}, false) : attention.forward_cross(x, other, {}, false)).output;
    r.op = attention_op(r.out);
    r.out.backward(g);
    r.gx = self ? x.grad() : add(x.grad(), other.grad());
    for (const Tensor& p : attention.parameters()) r.grads.push_back(p.grad().clone());
    return r;
  };
  const Run one = run(true), three = run(false);
  CHECK(one.op == "flex_attention_qkv");
  CHECK(three.op == "flex_attention");
  CHECK(compare(one.out, three.out, 0, 0).within_tolerance);
  REQUIRE(one.grads.size() == three.grads.size());
  for (size_t i = 0; i < one.grads.size(); ++i) {
    INFO("parameter " << i << " of " << one.grads.size());
    CHECK(compare(one.grads[i], three.grads[i], 0, 0).within_tolerance);
  }
  const TensorDiff gx = compare(one.gx, three.gx, 1e-6, 1e-5);
  INFO("x's gradient: " << gx.report);
  CHECK(gx.within_tolerance);
  // A view of x shares its data, not its gradient: not a self-attention.
  CHECK(attention_op(attention.forward_cross(x0, x0.detach(), {}, false).output) == "flex_attention");
  {
    const PrecisionScope float32(Precision::float32);  // float32 keeps three products
    CHECK(attention_op(attention.forward(x0, {}, false).output) == "flex_attention");
  }
}

TEST_CASE("Q, K and V stay three products where one of them would not run in bf16", "[bf16]") {
  Generator gen(4);
  const Tensor x = Tensor::randn({4, 64, 128}, gen);
  const PrecisionScope bf16(Precision::bf16);
  {
    const testing::Bf16Pays pays(true);
    // K and V 32 wide, narrower than a bf16 panel: they stay float32, so all three do.
    MultiHeadAttention narrow({.d_model = 128, .heads = 4, .kv_heads = 1}, gen);
    CHECK(attention_op(narrow.forward(x, {}, false).output) == "flex_attention");
    // X of [16, 128] fits the L1 cache: float32 too.
    MultiHeadAttention wide({.d_model = 128, .heads = 4}, gen);
    CHECK(attention_op(wide.forward(Tensor::randn({1, 16, 128}, gen), {}, false).output) == "flex_attention");
    CHECK(attention_op(wide.forward(x, {}, false).output) == "flex_attention_qkv");
  }
  const testing::Bf16Pays does_not_pay(false);  // a CPU where bf16 is slower: everything float32
  MultiHeadAttention attention({.d_model = 128, .heads = 4}, gen);
  CHECK(attention_op(attention.forward(x, {}, false).output) == "flex_attention");
}
