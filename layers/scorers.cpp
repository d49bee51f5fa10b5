#include "layers/scorers.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/ops.h"

namespace qkv {
namespace {

void require_rank2(const Tensor& queries, const Tensor& keys, const char* who) {
  if (queries.dim() < 2 || keys.dim() < 2)
    throw std::invalid_argument(std::string(who) + ": queries and keys must be [.., N, d], got " +
                                shape_str(queries.shape()) + " and " + shape_str(keys.shape()));
}

void require_width(const Tensor& t, int64_t width, const char* who, const char* what) {
  if (t.size(-1) != width)
    throw std::invalid_argument(std::string(who) + ": " + what + " " + shape_str(t.shape()) + " must end in " +
                                std::to_string(width));
}

void require_positive(int64_t v, const char* who, const char* what) {
  if (v <= 0) throw std::invalid_argument(std::string(who) + ": " + what + " must be positive, got " + std::to_string(v));
}

// q^T k for every pair, one product with k transposed: no transpose op on the tape (the
// product copies k^T row by row into a scratch buffer, core/ops/matmul.cpp).
// scale * q k^T, the scale applied inside the product.
Tensor dot_scores(const Tensor& queries, const Tensor& keys, const char* who, Scalar scale = 1) {
  require_rank2(queries, keys, who);
  if (queries.size(-1) != keys.size(-1))
    throw std::invalid_argument(std::string(who) + ": query width d_q=" + std::to_string(queries.size(-1)) +
                                " (queries " + shape_str(queries.shape()) + ") differs from key width d_k=" +
                                std::to_string(keys.size(-1)) + " (keys " + shape_str(keys.shape()) +
                                "); use the 'general' or 'additive' scorer for different widths");
  return matmul(queries, keys, {.transpose_b = true, .alpha = scale});
}

}  // namespace

Tensor DotScorer::scores(const Tensor& queries, const Tensor& keys) { return dot_scores(queries, keys, "DotScorer"); }

Scalar ScoreScale::value(int64_t d_k) const {
  switch (mode) {
    case Mode::inverse_sqrt_dk: return Scalar(1) / std::sqrt(Scalar(d_k));
    case Mode::inverse_dk: return Scalar(1) / Scalar(d_k);
    case Mode::none: return 1;
    case Mode::factor: return factor;
  }
  return 1;
}

std::string ScoreScale::str() const {
  switch (mode) {
    case Mode::inverse_sqrt_dk: return "sqrt_dk";
    case Mode::inverse_dk: return "dk";
    case Mode::none: return "none";
    case Mode::factor: return std::to_string(factor);
  }
  return "?";
}

ScoreScale parse_score_scale(const std::string& text) {
  if (text == "sqrt_dk") return ScoreScale::inverse_sqrt_dk();
  if (text == "dk") return ScoreScale::inverse_dk();
  if (text == "none") return ScoreScale::none();
  size_t used = 0;
  double factor = 0;
  try {
    factor = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(factor))
    throw std::invalid_argument("score scale '" + text + "' is not valid; use sqrt_dk, dk, none, or a number");
  return ScoreScale::by(static_cast<Scalar>(factor));
}

Tensor ScaledDotScorer::scores(const Tensor& queries, const Tensor& keys) {
  return dot_scores(queries, keys, "ScaledDotScorer", scale_.value(keys.size(-1)));
}

GeneralScorer::GeneralScorer(const GeneralScorerOptions& options, Generator& gen) : options_(options) {
  require_positive(options.heads, "GeneralScorer", "heads");
  require_positive(options.d_q, "GeneralScorer", "d_q");
  require_positive(options.d_k, "GeneralScorer", "d_k");
  weight_ = register_parameter("weight", options.init.make({options.heads, options.d_q, options.d_k}, gen));
}

Tensor GeneralScorer::scores(const Tensor& queries, const Tensor& keys) {
  require_rank2(queries, keys, "GeneralScorer");
  require_width(queries, options_.d_q, "GeneralScorer", "queries");
  require_width(keys, options_.d_k, "GeneralScorer", "keys");
  // (q W_a) k^T: project the Nq queries once, then one batched product with the keys.
  const Tensor w = per_head_parameter(weight_, queries, "GeneralScorer");
  return matmul(matmul(queries, w), keys, {.transpose_b = true});
}

AdditiveScorer::AdditiveScorer(const AdditiveScorerOptions& options, Generator& gen) : options_(options) {
  if (options_.hidden == 0) options_.hidden = options.d_k;
  require_positive(options_.heads, "AdditiveScorer", "heads");
  require_positive(options_.d_q, "AdditiveScorer", "d_q");
  require_positive(options_.d_k, "AdditiveScorer", "d_k");
  require_positive(options_.hidden, "AdditiveScorer", "hidden");
  const int64_t h = options_.heads, hidden = options_.hidden;
  query_weight_ = register_parameter("query_weight", options.init.make({h, options_.d_q, hidden}, gen));
  key_weight_ = register_parameter("key_weight", options.init.make({h, options_.d_k, hidden}, gen));
  v_ = register_parameter("v", options.init.make({h, hidden, 1}, gen));
}

std::pair<Tensor, Tensor> GeneralScorer::prepare(const Tensor& queries, const Tensor& keys) {
  require_rank2(queries, keys, "GeneralScorer");
  require_width(queries, options_.d_q, "GeneralScorer", "queries");
  require_width(keys, options_.d_k, "GeneralScorer", "keys");
  return {matmul(queries, per_head_parameter(weight_, queries, "GeneralScorer")), keys};
}

Tensor AdditiveScorer::scores(const Tensor& queries, const Tensor& keys) {
  require_rank2(queries, keys, "AdditiveScorer");
  require_width(queries, options_.d_q, "AdditiveScorer", "queries");
  require_width(keys, options_.d_k, "AdditiveScorer", "keys");
  const int64_t hidden = options_.hidden;
  const Tensor projected_q = matmul(queries, per_head_parameter(query_weight_, queries, "AdditiveScorer"));
  const Tensor projected_k = matmul(keys, per_head_parameter(key_weight_, keys, "AdditiveScorer"));
  // [.., Nq, 1, h] + [.., 1, Nk, h] -> [.., Nq, Nk, h]: W_a [q_i; k_j] for every pair.
  const Tensor pairs = tanh(add(unsqueeze(projected_q, -2), unsqueeze(projected_k, -3)));
  const Shape& pair_shape = pairs.shape();
  const int64_t nq = pair_shape[pair_shape.size() - 3], nk = pair_shape[pair_shape.size() - 2];
  Shape out_shape(pair_shape.begin(), pair_shape.end() - 1);  // [.., Nq, Nk]
  // Dot with v_a as one product per head: [.., (H,) Nq*Nk, h] x [(H,) h, 1].
  Tensor flat_pairs;
  if (options_.heads == 1) {
    flat_pairs = reshape(pairs, {-1, hidden});
  } else {
    flat_pairs = reshape(pairs, {-1, options_.heads, nq * nk, hidden});
  }
  return reshape(matmul(flat_pairs, per_head_parameter(v_, queries, "AdditiveScorer")), out_shape);
}

}  // namespace qkv
