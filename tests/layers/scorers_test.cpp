#include <cmath>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("dot scorer gives q^T k for every pair", "[scorers]") {
  DotScorer dot;
  const Tensor q = Tensor::from({1, 2, 0, 1}, {2, 2});
  const Tensor k = Tensor::from({3, 1, 1, -1, 2, 2}, {3, 2});
  // Row 0: [1,2].[3,1] = 5, [1,2].[1,-1] = -1, [1,2].[2,2] = 6. Row 1: [0,1].k = 1, -1, 2.
  CHECK_CLOSE(dot(q, k), Tensor::from({5, -1, 6, 1, -1, 2}, {2, 3}), 1e-6);
}

TEST_CASE("dot scorer names both shapes when d_q differs from d_k", "[scorers]") {
  DotScorer dot;
  CHECK_THROWS_WITH(dot(Tensor::zeros({2, 3}), Tensor::zeros({5, 4})),
                    Catch::Contains("[2, 3]") && Catch::Contains("[5, 4]") && Catch::Contains("d_q=3") &&
                        Catch::Contains("d_k=4"));
  ScaledDotScorer scaled;
  CHECK_THROWS_AS(scaled(Tensor::zeros({2, 3}), Tensor::zeros({5, 4})), std::invalid_argument);
}

TEST_CASE("scaled dot scorer divides by sqrt(d_k), or not, or by a given factor", "[scorers]") {
  const Tensor q = Tensor::from({1, 0, 1, 0}, {1, 4});
  const Tensor k = Tensor::from({1, 1, 1, 1, 2, 0, 2, 0}, {2, 4});
  // q.k = 2 and 4; d_k = 4 so 1/sqrt(d_k) = 1/2.
  CHECK_CLOSE(ScaledDotScorer()(q, k), Tensor::from({1, 2}, {1, 2}), 1e-6);
  CHECK_CLOSE(ScaledDotScorer(ScoreScale::none())(q, k), Tensor::from({2, 4}, {1, 2}), 1e-6);
  CHECK_CLOSE(ScaledDotScorer(ScoreScale::by(0.25f))(q, k), Tensor::from({0.5, 1}, {1, 2}), 1e-6);
}

TEST_CASE("score scales parse from config strings", "[scorers]") {
  CHECK(parse_score_scale("sqrt_dk").value(16) == Approx(0.25));
  CHECK(parse_score_scale("none").value(16) == 1);
  CHECK(parse_score_scale("0.125").value(16) == Approx(0.125));
  CHECK_THROWS_WITH(parse_score_scale("sqrt"), Catch::Contains("sqrt_dk, dk, none, or a number"));
  CHECK_THROWS_AS(parse_score_scale("0.5x"), std::invalid_argument);
}

TEST_CASE("general scorer gives q^T W_a k with d_q != d_k", "[scorers]") {
  Generator gen(0);
  GeneralScorer general(GeneralScorerOptions{.d_q = 2, .d_k = 3}, gen);
  set_parameter(general, "weight", {1, 0, 2, 0, 1, -1});  // W_a = [[1, 0, 2], [0, 1, -1]]
  const Tensor q = Tensor::from({1, 2}, {1, 2});
  const Tensor k = Tensor::from({1, 0, 1, 0, 1, 0}, {2, 3});
  // q^T W_a = [1, 2, 2 - 2] = [1, 2, 0]; with k_1 = [1, 0, 1]: 1; with k_2 = [0, 1, 0]: 2.
  CHECK_CLOSE(general(q, k), Tensor::from({1, 2}, {1, 2}), 1e-6);
  CHECK_THROWS_WITH(general(Tensor::zeros({1, 3}), k), Catch::Contains("GeneralScorer") && Catch::Contains("[1, 3]"));
}

TEST_CASE("additive scorer gives v_a^T tanh(W_q q + W_k k) with d_q != d_k", "[scorers]") {
  Generator gen(0);
  AdditiveScorer additive(AdditiveScorerOptions{.d_q = 1, .d_k = 2, .hidden = 2}, gen);
  set_parameter(additive, "query_weight", {1, 2});      // W_q [1, 2]
  set_parameter(additive, "key_weight", {1, 0, 0, 1});  // W_k = I
  set_parameter(additive, "v", {2, -1});
  const Tensor q = Tensor::from({0.5}, {1, 1});
  const Tensor k = Tensor::from({0, 0, 0.5, -1}, {2, 2});
  // W_q q = [0.5, 1]. Key 1: tanh([0.5, 1]) = [0.46211716, 0.76159416], score
  // 2 * 0.46211716 - 0.76159416 = 0.16264016. Key 2: tanh([1, 0]) = [0.76159416, 0],
  // score 1.52318831.
  CHECK_CLOSE(additive(q, k), Tensor::from({0.16264016, 1.52318831}, {1, 2}), 1e-6);
}

TEST_CASE("additive scorer's broadcast form equals the explicit concatenation [q, k]", "[scorers]") {
  Generator gen(3);
  const int64_t d_q = 2, d_k = 3, hidden = 4, nq = 2, nk = 3;
  AdditiveScorer additive(AdditiveScorerOptions{.d_q = d_q, .d_k = d_k, .hidden = hidden}, gen);
  const Tensor q = Tensor::randn({nq, d_q}, gen), k = Tensor::randn({nk, d_k}, gen);
  // W_a = [W_q; W_k] stacked along the input axis: [d_q + d_k, hidden].
  const Tensor w_a = concat({reshape(additive.parameter("query_weight"), {d_q, hidden}),
                             reshape(additive.parameter("key_weight"), {d_k, hidden})}, 0);
  const Tensor v = reshape(additive.parameter("v"), {hidden, 1});
  Tensor expected = Tensor::zeros({nq, nk});
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nk; ++j) {
      const Tensor pair = concat({slice(q, 0, i, i + 1), slice(k, 0, j, j + 1)}, 1);  // [1, d_q + d_k]
      expected.set({i, j}, matmul(tanh(matmul(pair, w_a)), v).item());
    }
  CHECK_CLOSE(additive(q, k), expected, 1e-5);
}

TEST_CASE("per-head scorer parameters apply to their own head", "[scorers]") {
  Generator gen(1);
  GeneralScorer general(GeneralScorerOptions{.heads = 2, .d_q = 2, .d_k = 2}, gen);
  const Tensor q = Tensor::randn({3, 2, 2, 2}, gen), k = Tensor::randn({3, 2, 4, 2}, gen);
  const Tensor s = general(q, k);
  REQUIRE(s.shape() == Shape{3, 2, 2, 4});
  // Head 1 alone through a one-head scorer holding head 1's W_a.
  GeneralScorer single(GeneralScorerOptions{.d_q = 2, .d_k = 2}, gen);
  const std::vector<Scalar> w1 = slice(general.parameter("weight"), 0, 1, 2).to_vector();
  set_parameter(single, "weight", std::vector<double>(w1.begin(), w1.end()));
  CHECK_CLOSE(slice(s, 1, 1, 2), single(slice(q, 1, 1, 2), slice(k, 1, 1, 2)), 1e-5);
  CHECK_THROWS_WITH(general(Tensor::zeros({3, 2, 2}), Tensor::zeros({3, 2, 2})), Catch::Contains("2 heads"));
}

TEST_CASE("make_scorer builds every kind and lists the valid kinds for an unknown one", "[scorers]") {
  Generator gen(0);
  for (const char* kind : {"additive", "dot", "general", "scaled_dot", "mup_dot", "qk_norm", "learned_temperature"}) {
    auto s = make_scorer(ScorerOptions{.kind = kind, .d_q = 4, .d_k = 4}, gen);
    CHECK(s->scores(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 5, 4})).shape() == Shape{2, 3, 5});
  }
  CHECK_THROWS_AS(make_scorer(ScorerOptions{.kind = "cosine?"}, gen), std::invalid_argument);
  CHECK_THROWS_WITH(make_scorer(ScorerOptions{.kind = "cosine?"}, gen),
                    Catch::Contains("'cosine?'") &&
                        Catch::Contains("additive, dot, general, learned_temperature, mup_dot, qk_norm, scaled_dot"));
}

TEST_CASE("register_scorer adds a kind that make_scorer and attention can use", "[scorers]") {
  struct NegativeDistance : Scorer {  // -|q - k|^2 summed over the width
    Tensor scores(const Tensor& q, const Tensor& k) override {
      return neg(sum(pow(sub(unsqueeze(q, -2), unsqueeze(k, -3)), 2), -1));
    }
  };
  register_scorer("test_negative_distance",
                  [](const ScorerOptions&, Generator&) { return std::make_shared<NegativeDistance>(); });
  Generator gen(0);
  auto s = make_scorer(ScorerOptions{.kind = "test_negative_distance"}, gen);
  // q = [0, 0]; k = [1, 1] -> -2, k = [0, 3] -> -9.
  CHECK_CLOSE(s->scores(Tensor::zeros({1, 2}), Tensor::from({1, 1, 0, 3}, {2, 2})), Tensor::from({-2, -9}, {1, 2}), 1e-6);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2, .scorer = {.kind = "test_negative_distance"}}, gen);
  CHECK(attn.forward(Tensor::randn({1, 3, 4}, gen)).weights.shape() == Shape{1, 2, 3, 3});
}
