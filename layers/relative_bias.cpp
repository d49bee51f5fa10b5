#include "layers/relative_bias.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "layers/score_mods.h"

namespace qkv {

int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance) {
  // Line by line as T5's code; n is the distance looking back from the query.
  int64_t bucket = 0;
  int64_t n = -relative_position;
  if (bidirectional) {
    num_buckets /= 2;
    if (n < 0) bucket += num_buckets;  // keys after the query use the upper half
    n = std::abs(n);
  } else {
    n = std::max<int64_t>(n, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return bucket + n;
  // T5 computes this in float32 and truncates toward zero; so do we, to get its buckets.
  const float log_ratio = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                          std::log(static_cast<float>(max_distance) / static_cast<float>(max_exact));
  const int64_t large = max_exact + static_cast<int64_t>(log_ratio * static_cast<float>(num_buckets - max_exact));
  return bucket + std::min(large, num_buckets - 1);
}

RelativePositionBias::RelativePositionBias(const RelativeBiasOptions& options, int64_t heads, Generator& gen)
    : options_(options), heads_(heads) {
  if (options.kind == RelativeBiasKind::none)
    throw std::invalid_argument("RelativePositionBias: kind none has no table; choose clipped or t5");
  if (heads <= 0) throw std::invalid_argument("RelativePositionBias: heads must be positive");
  if (options.kind == RelativeBiasKind::clipped && options.window < 0)
    throw std::invalid_argument("RelativePositionBias: window must be >= 0, got " + std::to_string(options.window));
  if (options.kind == RelativeBiasKind::t5 && (options.num_buckets < (options.bidirectional ? 4 : 2) ||
                               options.max_distance <= options.num_buckets / (options.bidirectional ? 4 : 2)))
    throw std::invalid_argument("RelativePositionBias(t5): need num_buckets >= " +
                                std::string(options.bidirectional ? "4" : "2") +
                                " and max_distance above the exact range, got num_buckets=" +
                                std::to_string(options.num_buckets) + " max_distance=" +
                                std::to_string(options.max_distance));
  const Shape shape{heads, num_buckets()};
  table_ = register_parameter("table", options.init_stddev > 0 ? Tensor::randn(shape, gen, 0, options.init_stddev)
                                                               : Tensor::zeros(shape));
}

int64_t RelativePositionBias::num_buckets() const {
  return options_.kind == RelativeBiasKind::clipped ? 2 * options_.window + 1 : options_.num_buckets;
}

int64_t RelativePositionBias::reach() const {
  return options_.kind == RelativeBiasKind::clipped ? options_.window : options_.max_distance;
}

int64_t RelativePositionBias::bucket(int64_t query_position, int64_t key_position) const {
  if (options_.kind == RelativeBiasKind::clipped)
    return std::clamp(query_position - key_position, -options_.window, options_.window) + options_.window;
  // T5's function takes key minus query: -(i - j).
  return t5_relative_position_bucket(-(query_position - key_position), options_.bidirectional, options_.num_buckets,
                                     options_.max_distance);
}

Tensor RelativePositionBias::forward(int64_t query_length, int64_t key_length) {
  if (buckets_.shape != Shape{query_length, key_length}) {
    std::vector<int64_t> ids(static_cast<size_t>(query_length * key_length));
    for (int64_t i = 0; i < query_length; ++i)
      for (int64_t j = 0; j < key_length; ++j) ids[i * key_length + j] = bucket(i, j);
    buckets_ = Indices::from(std::move(ids), {query_length, key_length});
  }
  // Rows of the [num_buckets, H] transpose (a copy of a few hundred numbers) per bucket id.
  const Tensor bias = embedding(transpose(table_, 0, 1), buckets_);  // [Nq, Nk, H]
  if (heads_ == 1) return reshape(bias, {query_length, key_length});
  return permute(bias, {2, 0, 1});
}

RelativeBiasScorer::RelativeBiasScorer(std::shared_ptr<Scorer> base, std::shared_ptr<RelativePositionBias> bias)
    : base_(register_module("base", std::move(base))),
      bias_(register_module("bias", std::move(bias))),
      mod_(std::make_shared<RelativeBiasMod>(*bias_)) {}

std::optional<FusedScoring> RelativeBiasScorer::fused(int64_t d_k) const { return with_score_mod(base_->fused(d_k), mod_); }

Tensor RelativeBiasScorer::scores(const Tensor& queries, const Tensor& keys) {
  const Tensor s = base_->scores(queries, keys);
  const int64_t heads = bias_->table().size(0);
  if (heads > 1 && (s.dim() < 3 || s.size(-3) != heads))
    throw std::invalid_argument("RelativeBiasScorer: a bias for " + std::to_string(heads) +
                                " heads needs scores [.., heads, Nq, Nk], got " + shape_str(s.shape()));
  return add(s, bias_->forward(s.size(-2), s.size(-1)));
}

}  // namespace qkv
