// The scorers that keep the softmax alive without 1/sqrt(d_k): 1/d_k, QK-norm and a learned
// temperature, values by hand and their invariances.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("mup_dot divides q.k by d_k", "[layers][scorers]") {
  Generator gen(7);
  auto scorer = make_scorer({.kind = "mup_dot", .d_q = 4, .d_k = 4}, gen);
  const Tensor q = tensor_of({1, 2, 3, 4}, {1, 4}), k = tensor_of({1, 1, 1, 1, 0, 0, 0, 2}, {2, 4});
  CHECK_CLOSE(scorer->scores(q, k), tensor_of({10.0 / 4, 8.0 / 4}, {1, 2}), 1e-6);
  CHECK(parse_score_scale("dk").value(16) == Approx(1.0 / 16));
}

TEST_CASE("qk_norm scores g * cos(q, k), g from sqrt(d_k), by hand", "[layers][scorers]") {
  QKNormScorer scorer({.d_k = 2});
  REQUIRE(scorer.named_parameters().size() == 1);
  CHECK(scorer.scale().item() == Approx(std::sqrt(2.0)));
  // q = (3, 4), k = (1, 0) and (0, -2): cosines 0.6 and -0.8.
  const Tensor q = tensor_of({3, 4}, {1, 2}), k = tensor_of({1, 0, 0, -2}, {2, 2});
  CHECK_CLOSE(scorer.scores(q, k), tensor_of({0.6 * std::sqrt(2.0), -0.8 * std::sqrt(2.0)}, {1, 2}), 1e-6);
  // Long vectors do not sharpen the softmax: scaling q and k changes nothing.
  CHECK_CLOSE(scorer.scores(mul(q, Scalar(100)), mul(k, Scalar(0.01))), scorer.scores(q, k), 1e-5);
  QKNormScorer fixed({.heads = 2, .d_k = 2, .initial_scale = 3, .learn_scale = false});
  CHECK(fixed.named_parameters().empty());
  CHECK_THROWS_WITH(QKNormScorer({.d_k = 2, .initial_scale = -1}), Catch::Contains("initial_scale"));
}

TEST_CASE("learned_temperature starts as its initial scale and learns exp(log_temperature)", "[layers][scorers]") {
  Generator gen(8);
  const Tensor q = Tensor::randn({2, 3, 16}, gen), k = Tensor::randn({2, 5, 16}, gen);
  LearnedTemperatureScorer from_sqrt({.heads = 2, .d_k = 16});
  CHECK_CLOSE(from_sqrt.scores(q, k), ScaledDotScorer().scores(q, k), 1e-5);
  LearnedTemperatureScorer from_one({.d_k = 16, .initial = ScoreScale::none()});
  CHECK_CLOSE(from_one.scores(q, k), DotScorer().scores(q, k), 1e-5);
  // Per head: head 1 at temperature 2 doubles its scores, head 0 keeps 1/sqrt(d_k).
  set_parameter(from_sqrt, "log_temperature", {std::log(0.25), std::log(2.0)});
  const Tensor s = from_sqrt.scores(q, k), dot = DotScorer().scores(q, k);
  CHECK_CLOSE(slice(s, 0, 0, 1), slice(dot, 0, 0, 1) * Scalar(0.25), 1e-5);
  CHECK_CLOSE(slice(s, 0, 1, 2), slice(dot, 0, 1, 2) * Scalar(2), 1e-5);
  CHECK_CLOSE(from_sqrt.temperature(), tensor_of({0.25, 2}, {2}), 1e-6);
}
