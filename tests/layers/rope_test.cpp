// Rotary position embedding: values by hand, its defining property (the score depends only
// on q, k and the offset i - j), and its use from SequenceModel.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("rotary_embedding rotates each pair by position * base^(-2i/d), by hand", "[layers][rope]") {
  // d = 4, base 100: theta_0 = 1, theta_1 = 100^(-1/2) = 0.1. Rows at positions 0, 1, 2.
  const Tensor x = tensor_of({1, 0, 0, 1, 1, 0, 0, 1, 2, 3, 4, 5}, {3, 4});
  const Tensor y = rotary_embedding(x, 100);
  const double c2 = std::cos(2.0), s2 = std::sin(2.0), c02 = std::cos(0.2), s02 = std::sin(0.2);
  CHECK_CLOSE(y, tensor_of({1, 0, 0, 1,                                    // position 0: unchanged
                            std::cos(1.0), std::sin(1.0), -std::sin(0.1), std::cos(0.1),  // (1,0) by 1 rad, (0,1) by 0.1
                            2 * c2 - 3 * s2, 2 * s2 + 3 * c2, 4 * c02 - 5 * s02, 4 * s02 + 5 * c02},
                           {3, 4}),
              1e-6);
  // offset shifts every position: row 0 with offset 2 is row 2 without.
  CHECK_CLOSE(rotary_embedding(slice(x, 0, 2, 3), 100, 2), slice(y, 0, 2, 3), 1e-6);
}

TEST_CASE("RoPE scores depend only on q, k and the offset i - j", "[layers][rope]") {
  Generator gen(3);
  const int64_t n = 7, d = 8;
  const Tensor q = Tensor::randn({1, d}, gen), k = Tensor::randn({1, d}, gen);
  // The same q at every query position and the same k at every key position: then
  // score(i, j) = f(q, k, i - j) means every diagonal of the score matrix is constant.
  RotaryScorer scorer(std::make_shared<DotScorer>());
  const Tensor s = scorer.scores(expand(q, {n, d}), expand(k, {n, d}));
  for (int64_t i = 0; i + 1 < n; ++i)
    for (int64_t j = 0; j + 1 < n; ++j) CHECK(s.at({i + 1, j + 1}) == Approx(s.at({i, j})).margin(1e-5));
  // ... and it does depend on the offset (a rotation that ignored positions would pass the
  // check above too): offsets 0, 1 and 3 give three different scores.
  CHECK(std::abs(s.at({0, 0}) - s.at({1, 0})) > 1e-3);
  CHECK(std::abs(s.at({3, 0}) - s.at({1, 0})) > 1e-3);
  // At offset 0 the rotations cancel: the plain dot product.
  CHECK(s.at({4, 4}) == Approx(sum(mul(q, k)).item()).margin(1e-5));
}

TEST_CASE("RoPE keeps lengths and rejects an odd width", "[layers][rope]") {
  Generator gen(4);
  const Tensor x = Tensor::randn({2, 5, 6}, gen);
  CHECK_CLOSE(sum(mul(rotary_embedding(x), rotary_embedding(x)), -1), sum(mul(x, x), -1), 1e-5);
  CHECK_THROWS_WITH(rotary_embedding(Tensor::zeros({5, 3})), Catch::Contains("d even") && Catch::Contains("[5, 3]"));
}

TEST_CASE("SequenceModel with rope or alibi: no absolute table, positions in every scorer", "[layers][rope]") {
  for (PositionKind kind : {PositionKind::rope, PositionKind::alibi}) {
    INFO(enum_name(kind));
    Generator gen(5);
    SequenceModel model({.vocab_size = 6, .num_classes = 6, .max_len = 8, .d_model = 8, .heads = 2, .layers = 2,
                         .positional = kind},
                        gen);
    for (const auto& [name, _] : model.named_parameters()) CHECK(name.rfind("pos.", 0) != 0);
    // Positions break permutation equivariance: model(P x) != P model(x). (Not with a
    // reversal: it keeps every |i - j|, and bidirectional ALiBi sees only those.)
    const std::vector<int64_t> ids{1, 2, 3, 4, 5}, order{2, 0, 4, 1, 3};
    std::vector<int64_t> permuted;
    for (int64_t i : order) permuted.push_back(ids[i]);
    const Tensor out = model.forward(Indices::from(ids, {1, 5})).logits;
    const Tensor out_permuted = model.forward(Indices::from(permuted, {1, 5})).logits;
    const TensorDiff diff = compare(out_permuted, permute_rows(out, order), 1e-4, 0);
    CHECK_FALSE(diff.within_tolerance);
  }
}
