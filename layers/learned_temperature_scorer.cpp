#include "layers/learned_temperature_scorer.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "layers/score_mods.h"

namespace qkv {

LearnedTemperatureScorer::LearnedTemperatureScorer(const LearnedTemperatureScorerOptions& options)
    : options_(options) {
  if (options_.heads <= 0 || options_.d_k <= 0)
    throw std::invalid_argument("LearnedTemperatureScorer: heads and d_k must be positive, got heads=" +
                                std::to_string(options_.heads) + " d_k=" + std::to_string(options_.d_k));
  const Scalar tau = options_.initial.value(options_.d_k);
  if (!(tau > 0))
    throw std::invalid_argument("LearnedTemperatureScorer: the initial temperature must be positive, got " +
                                options_.initial.str());
  // [H], not [H, 1, 1]: a vector is not re-drawn as a weight matrix by train/ nor decayed.
  log_temperature_ = register_parameter("log_temperature", Tensor::full({options_.heads}, std::log(tau)));
}

Tensor LearnedTemperatureScorer::scores(const Tensor& queries, const Tensor& keys) {
  if (queries.dim() < 2 || keys.dim() < 2 || queries.size(-1) != keys.size(-1))
    throw std::invalid_argument("LearnedTemperatureScorer: queries " + shape_str(queries.shape()) + " and keys " +
                                shape_str(keys.shape()) + " must be [.., N, d] with the same width d");
  const Tensor tau =
      exp(per_head_parameter(reshape(log_temperature_, {options_.heads, 1, 1}), queries, "LearnedTemperatureScorer"));
  return mul(matmul(queries, keys, {.transpose_b = true}), tau);
}

std::optional<FusedScoring> LearnedTemperatureScorer::fused(int64_t) const {
  return FusedScoring{.scale = 1, .score_mods = {std::make_shared<HeadScaleMod>(log_temperature_, true)}};
}

Tensor LearnedTemperatureScorer::temperature() const {
  NoGradGuard no_grad;
  return exp(log_temperature_);
}

}  // namespace qkv
