#include "layers/qk_norm_scorer.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/ops.h"
#include "layers/score_mods.h"

namespace qkv {
namespace {

// x / sqrt(sum x^2 + 1e-12) over the last axis; the 1e-12 keeps a zero row finite.
Tensor unit_rows(const Tensor& x) { return div(x, sqrt(add(sum(mul(x, x), -1, true), Scalar(1e-12)))); }

}  // namespace

QKNormScorer::QKNormScorer(const QKNormScorerOptions& options) : options_(options) {
  if (options_.heads <= 0 || options_.d_k <= 0)
    throw std::invalid_argument("QKNormScorer: heads and d_k must be positive, got heads=" +
                                std::to_string(options_.heads) + " d_k=" + std::to_string(options_.d_k));
  if (options_.initial_scale == 0) options_.initial_scale = std::sqrt(static_cast<Scalar>(options_.d_k));
  if (!(options_.initial_scale > 0))
    throw std::invalid_argument("QKNormScorer: initial_scale must be positive (or 0 for sqrt(d_k)), got " +
                                std::to_string(options_.initial_scale));
  // [H], not [H, 1, 1]: a vector is not re-drawn as a weight matrix by train/ nor decayed.
  const Tensor g = Tensor::full({options_.heads}, options_.initial_scale);
  scale_ = options_.learn_scale ? register_parameter("scale", g) : g;
}

std::pair<Tensor, Tensor> QKNormScorer::prepare(const Tensor& queries, const Tensor& keys) {
  if (queries.dim() < 2 || keys.dim() < 2 || queries.size(-1) != keys.size(-1))
    throw std::invalid_argument("QKNormScorer: queries " + shape_str(queries.shape()) + " and keys " +
                                shape_str(keys.shape()) + " must be [.., N, d] with the same width d");
  return {unit_rows(queries), unit_rows(keys)};
}

std::optional<FusedScoring> QKNormScorer::fused(int64_t) const {
  return FusedScoring{.scale = 1, .score_mods = {std::make_shared<HeadScaleMod>(scale_, false)}, .prepares_inputs = true};
}

Tensor QKNormScorer::scores(const Tensor& queries, const Tensor& keys) {
  const auto [q, k] = prepare(queries, keys);
  const Tensor cosine = matmul(q, k, {.transpose_b = true});
  return mul(cosine, per_head_parameter(reshape(scale_, {options_.heads, 1, 1}), queries, "QKNormScorer"));
}

}  // namespace qkv
