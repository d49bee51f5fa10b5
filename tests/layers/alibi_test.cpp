// ALiBi: the bias by hand and the scorer wrapper.
#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("alibi_bias is -m_h |i - j| with the paper's slopes, by hand", "[layers][alibi]") {
  // Two heads: m = 2^-4, 2^-8.
  CHECK_CLOSE(alibi_bias(2, 2, 3), tensor_of({0, -1.0 / 16, -2.0 / 16, -1.0 / 16, 0, -1.0 / 16,  //
                                              0, -1.0 / 256, -2.0 / 256, -1.0 / 256, 0, -1.0 / 256},
                                             {2, 2, 3}),
              1e-7);
  CHECK(alibi_bias(1, 2, 2).shape() == Shape{2, 2});  // one head: m = 2^-8, no head axis
  CHECK(alibi_bias(1, 2, 2).at({0, 1}) == Approx(-1.0 / 256));
}

TEST_CASE("AlibiScorer adds the bias to any base scorer and checks the head count", "[layers][alibi]") {
  Generator gen(6);
  const Tensor q = Tensor::randn({3, 2, 4, 5}, gen), k = Tensor::randn({3, 2, 6, 5}, gen);
  AlibiScorer scorer(std::make_shared<ScaledDotScorer>(), 2);
  CHECK_CLOSE(scorer.scores(q, k), add(ScaledDotScorer().scores(q, k), alibi_bias(2, 4, 6)), 1e-6);
  CHECK(scorer.named_parameters().empty());
  CHECK_THROWS_WITH(scorer.scores(Tensor::randn({3, 4, 5}, gen), Tensor::randn({3, 6, 5}, gen)),
                    Catch::Contains("2 heads") && Catch::Contains("[3, 4, 6]"));
}
