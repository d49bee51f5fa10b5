#include <algorithm>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("clipped relative bias buckets i - j into [-window, window]", "[relative_bias]") {
  Generator gen(0);
  RelativePositionBias bias(RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = 2}, 1, gen);
  CHECK(bias.num_buckets() == 5);
  CHECK(bias.bucket(3, 3) == 2);  // distance 0 -> middle
  CHECK(bias.bucket(4, 3) == 3);  // i - j = 1
  CHECK(bias.bucket(0, 5) == 0);  // i - j = -5, clipped to -2
  CHECK(bias.bucket(5, 0) == 4);  // i - j = 5, clipped to 2
  CHECK(bias.table().shape() == Shape{1, 5});
  CHECK(bias.table().to_vector() == std::vector<Scalar>(5, 0));  // zeros by default
}

TEST_CASE("t5 buckets match T5's _relative_position_bucket", "[relative_bias]") {
  struct Row {
    bool bidirectional;
    int64_t num_buckets, max_distance;
    std::vector<int64_t> positions, buckets;
  };
  // Printed by tests/reference/t5_bucket_reference.py (HuggingFace's T5 code, PyTorch).
  const std::vector<Row> rows = {
      {true, 32, 128, {-300, -128, -127, -100, -64, -40, -20, -16, -9, -8, -7, -1, 0, 1, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 127, 128, 200}, {15, 15, 15, 15, 14, 12, 10, 10, 8, 8, 7, 1, 0, 17, 21, 23, 24, 24, 25, 26, 26, 28, 30, 31, 31, 31, 31}},
      {false, 32, 128, {-300, -128, -127, -100, -64, -40, -20, -16, -9, -8, -7, -1, 0, 1, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 127, 128, 200}, {31, 31, 31, 30, 26, 23, 17, 16, 9, 8, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
      {true, 8, 20, {-300, -128, -127, -100, -64, -40, -20, -16, -9, -8, -7, -1, 0, 1, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 127, 128, 200}, {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 0, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}},
  };
  for (const Row& row : rows)
    for (size_t i = 0; i < row.positions.size(); ++i) {
      INFO("relative position " << row.positions[i] << " bidirectional " << row.bidirectional << " buckets "
                                << row.num_buckets);
      CHECK(t5_relative_position_bucket(row.positions[i], row.bidirectional, row.num_buckets, row.max_distance) ==
            row.buckets[i]);
    }
  Generator gen(0);
  RelativePositionBias bias(RelativeBiasOptions{.kind = RelativeBiasKind::t5, .num_buckets = 32, .max_distance = 128}, 2, gen);
  CHECK(bias.bucket(10, 2) == 8);   // key 8 before the query: T5 relative position -8
  CHECK(bias.bucket(2, 10) == 24);  // key 8 after the query: +8
}

TEST_CASE("relative bias adds R[bucket(i, j)] to any base scorer, per head, broadcast over the batch", "[relative_bias]") {
  Generator gen(0);
  auto bias = std::make_shared<RelativePositionBias>(RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = 1}, 2, gen);
  // table [2 heads, 3 buckets]; bucket 0: i - j <= -1, 1: i == j, 2: i - j >= 1.
  set_parameter(*bias, "table", {10, 20, 30, -10, -20, -30});
  RelativeBiasScorer scorer(std::make_shared<DotScorer>(), bias);
  const Tensor q = Tensor::randn({2, 2, 3, 4}, gen), k = Tensor::randn({2, 2, 3, 4}, gen);
  const Tensor base = DotScorer()(q, k);
  const Tensor s = scorer(q, k);
  REQUIRE(s.shape() == Shape{2, 2, 3, 3});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const Scalar r = (h == 0 ? 1 : -1) * 10 * (i < j ? 1 : i == j ? 2 : 3);
          CHECK(s.at({b, h, i, j}) == Approx(base.at({b, h, i, j}) + r));
        }
  CHECK_THROWS_WITH(scorer(Tensor::zeros({3, 4}), Tensor::zeros({3, 4})), Catch::Contains("2 heads"));
}

TEST_CASE("relative bias wraps every scorer kind through make_scorer", "[relative_bias]") {
  Generator gen(0);
  for (const char* kind : {"additive", "dot", "general", "scaled_dot"})
    for (RelativeBiasKind bias_kind : {RelativeBiasKind::clipped, RelativeBiasKind::t5}) {
      auto s = make_scorer(ScorerOptions{.kind = kind, .heads = 2, .d_q = 3, .d_k = 3,
                                         .relative_bias = {.kind = bias_kind, .num_buckets = 8, .max_distance = 16}},
                           gen);
      REQUIRE(dynamic_cast<RelativeBiasScorer*>(s.get()) != nullptr);
      CHECK(s->scores(Tensor::zeros({1, 2, 4, 3}), Tensor::zeros({1, 2, 5, 3})).shape() == Shape{1, 2, 4, 5});
    }
  CHECK_THROWS_WITH(RelativePositionBias(RelativeBiasOptions{.kind = RelativeBiasKind::none}, 2, gen),
                    Catch::Contains("choose clipped or t5"));
}

TEST_CASE("a clipped table indexed by key - query imports with its bucket axis reversed", "[relative_bias]") {
  // Theirs: bias(i, j) = theirs[h, clamp(j - i, -w, w) + w] (Shaw et al.'s a_ij = w_clip(j - i)).
  const int64_t w = 2, heads = 2, n = 6;
  const std::vector<double> theirs{1, 2, 3, 4, 5, -1, -2, -3, -4, -5};  // [2 heads, 5 buckets]
  std::vector<double> ours(theirs.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t b = 0; b <= 2 * w; ++b) ours[h * (2 * w + 1) + b] = theirs[h * (2 * w + 1) + (2 * w - b)];
  Generator gen(0);
  RelativePositionBias bias(RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = w}, heads, gen);
  set_parameter(bias, "table", ours);
  const Tensor r = bias.forward(n, n);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        CHECK(r.at({h, i, j}) == Approx(theirs[h * (2 * w + 1) + std::clamp(j - i, -w, w) + w]));
}
