// Relative position bias: score(i, j) = base_score(q_i, k_j) + R_h[bucket(i, j)], one
// learned scalar per head and bucket of the relative distance i - j (query i minus key j,
// the seed's R_{i-j}; one convention for both kinds):
//  - "clipped" (Shaw et al. 2018): bucket = clamp(i - j, -window, window) + window, so
//    2 * window + 1 buckets; every distance beyond the window shares the edge bucket.
//    Shaw et al. and some code index by j - i (key minus query): to import such a table,
//    reverse its bucket axis, ours[h, b] = theirs[h, 2 * window - b] (tested).
//  - "t5" (Raffel et al. 2020): T5's _relative_position_bucket, half the buckets exact for
//    small distances and the rest log-spaced up to max_distance. T5's function takes key
//    minus query, so it is called with -(i - j) and its bucket numbers are T5's own: a T5
//    table needs only a transpose, from T5's [buckets, H] (nn.Embedding) to our [H, buckets].
// It is a wrapper scorer (RelativeBiasScorer holds any base scorer), so it combines with
// every scorer, a user's own included, and the attention layer needs no special case.
#pragma once

#include <memory>
#include <string>

#include "core/generator.h"
#include "core/named_enum.h"
#include "core/ops.h"
#include "layers/scorer.h"

namespace qkv {

enum class RelativeBiasKind { none, clipped, t5 };
template <>
struct EnumNames<RelativeBiasKind> {
  static constexpr std::array<std::pair<RelativeBiasKind, std::string_view>, 3> table{
      {{RelativeBiasKind::none, "none"}, {RelativeBiasKind::clipped, "clipped"}, {RelativeBiasKind::t5, "t5"}}};
};

struct RelativeBiasOptions {
  RelativeBiasKind kind = RelativeBiasKind::none;
  int64_t window = 8;          // clipped: distances beyond [-window, window] are clipped
  int64_t num_buckets = 32;    // t5
  int64_t max_distance = 128;  // t5: distances from here on share the last bucket
  bool bidirectional = true;   // t5: false gives every key after the query bucket 0
  Scalar init_stddev = 0;      // the table starts at zero (0) or N(0, init_stddev^2)
};

// T5's _relative_position_bucket, for relative_position = key position - query position.
int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance);

class RelativePositionBias : public Module {
 public:
  RelativePositionBias(const RelativeBiasOptions& options, int64_t heads, Generator& gen);
  // [H, Nq, Nk], or [Nq, Nk] with one head.
  Tensor forward(int64_t query_length, int64_t key_length);
  int64_t bucket(int64_t query_position, int64_t key_position) const;
  int64_t num_buckets() const;
  // The distance |i - j| beyond which the bucket no longer changes (window, max_distance).
  int64_t reach() const;
  const Tensor& table() const { return table_; }  // "table" [H, num_buckets], per-head first like every layer

 private:
  RelativeBiasOptions options_;
  int64_t heads_;
  Tensor table_;
  Indices buckets_;  // of the last (Nq, Nk) asked for: rebuilt only when they change
};

class RelativeBiasScorer : public Scorer {
 public:
  RelativeBiasScorer(std::shared_ptr<Scorer> base, std::shared_ptr<RelativePositionBias> bias);
  // base scores [.., (H,) Nq, Nk] + the bias, broadcast over the batch.
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: the base's form, then + R_h[bucket(i - j)] as a score_mod.
  std::optional<FusedScoring> fused(int64_t d_k) const override;
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override {
    return base_->prepare(queries, keys);
  }
  Scorer& base() { return *base_; }
  RelativePositionBias& bias() { return *bias_; }

 private:
  std::shared_ptr<Scorer> base_;
  std::shared_ptr<RelativePositionBias> bias_;
  std::shared_ptr<const ScoreMod> mod_;
};

}  // namespace qkv
