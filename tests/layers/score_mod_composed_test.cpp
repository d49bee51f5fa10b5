// A user's score_mod on the threads, composed (apply_score_mod) and fused (flex_attention):
// its parameter gradients are summed in a fixed order of entries or tasks, so one thread
// and two give the same bits; the composed values are the mod's formula.
#include <cmath>
#include <cstring>

#include "examples/distance_penalty.h"
#include "test_helpers.h"

using namespace qkv;

namespace {
struct Composed {
  std::vector<Scalar> out, grad_scores, grad_weight;
};

// scores [B, H, Nq, Nk] through s - w_h |i - j|, then the loss sum(out * g).
Composed run(int threads, const Tensor& scores, const Tensor& g) {
  set_num_threads(threads);
  auto mod = std::make_shared<DistancePenalty>(scores.size(1));
  for (int64_t h = 0; h < scores.size(1); ++h) mod->parameter("weight").data()[h] = Scalar(0.1) * Scalar(h + 1);
  Tensor s = scores.detach().requires_grad_();
  Tensor out = apply_score_mod(s, mod);
  sum(mul(out, g)).backward();
  return {out.to_vector(), s.grad().to_vector(), mod->parameter("weight").grad().to_vector()};
}
}  // namespace

TEST_CASE("a user's score_mod, composed, gives the same bits on one thread and two", "[layers][score_mod][threads]") {
  const int before = num_threads();
  Generator gen(5);
  // 32 entries of 40 x 50 scores: past kParallelGrain, so two threads share the entries.
  const Tensor scores = Tensor::randn({4, 8, 40, 50}, gen), g = Tensor::randn({4, 8, 40, 50}, gen);
  const Composed one = run(1, scores, g), two = run(2, scores, g);
  set_num_threads(before);
  CHECK(std::memcmp(one.out.data(), two.out.data(), one.out.size() * sizeof(Scalar)) == 0);
  CHECK(std::memcmp(one.grad_scores.data(), two.grad_scores.data(), one.grad_scores.size() * sizeof(Scalar)) == 0);
  REQUIRE(one.grad_weight.size() == 8);
  CHECK(std::memcmp(one.grad_weight.data(), two.grad_weight.data(), 8 * sizeof(Scalar)) == 0);

  // By the formula: out = s - w_h |i - j|, d/ds = 1, dL/dw_h = -sum over b, i, j of g |i - j|.
  const Scalar* s = scores.data();
  const Scalar* gv = g.data();
  CHECK(two.out[((2 * 8 + 3) * 40 + 7) * 50 + 31] == Approx(s[((2 * 8 + 3) * 40 + 7) * 50 + 31] - Scalar(0.4) * 24));
  CHECK(two.grad_scores == g.to_vector());
  for (int64_t h = 0; h < 8; ++h) {
    double expected = 0;
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t i = 0; i < 40; ++i)
        for (int64_t j = 0; j < 50; ++j) expected -= gv[((b * 8 + h) * 40 + i) * 50 + j] * std::abs(double(i - j));
    CHECK(two.grad_weight[h] == Approx(expected).epsilon(1e-4));
  }
}

TEST_CASE("the fused kernel's score_mod and sink gradients give the same bits on one thread and two",
          "[layers][score_mod][threads]") {
  // Two query heads per key/value head: each backward task adds both heads' terms to its own
  // slots, summed in task order (TaskGradients).
  const int before = num_threads();
  Generator gen(6);
  const Tensor q = Tensor::randn({3, 4, 70, 16}, gen), k = Tensor::randn({3, 2, 70, 16}, gen),
               v = Tensor::randn({3, 2, 70, 16}, gen), g = Tensor::randn({3, 4, 70, 16}, gen);
  auto run = [&](int threads) {
    set_num_threads(threads);
    auto mod = std::make_shared<DistancePenalty>(4);
    for (int64_t h = 0; h < 4; ++h) mod->parameter("weight").data()[h] = Scalar(0.05) * Scalar(h + 1);
    FlexAttentionOptions options;
    options.scale = Scalar(0.25);
    options.score_mods = {mod};
    options.sink = Tensor::from({Scalar(0.3), Scalar(-0.2), Scalar(1.1), Scalar(0)}).requires_grad_();
    sum(mul(flex_attention(q, k, v, options).output, g)).backward();
    return std::make_pair(mod->parameter("weight").grad().to_vector(), options.sink.grad().to_vector());
  };
  const auto one = run(1), two = run(2);
  set_num_threads(before);
  REQUIRE(one.first.size() == 4);
  REQUIRE(one.second.size() == 4);
  CHECK(std::memcmp(one.first.data(), two.first.data(), 4 * sizeof(Scalar)) == 0);
  CHECK(std::memcmp(one.second.data(), two.second.data(), 4 * sizeof(Scalar)) == 0);
  for (Scalar x : one.first) CHECK(x != 0);
}
