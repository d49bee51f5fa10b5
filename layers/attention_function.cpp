#include "layers/attention_function.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "core/ops.h"
#include "layers/scorers.h"

namespace qkv {
namespace {
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2 || k.size(-2) != v.size(-2))
    throw std::invalid_argument("attention: need q [.., Nq, d_q], k [.., Nk, d_k] and v [.., Nk, d_v], got q " +
                                shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
}

bool same_leading_axes(const Tensor& a, const Tensor& b) {
  return a.dim() == b.dim() && std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin());
}

bool dropout_active(const Dropout* dropout) { return dropout && dropout->is_training() && dropout->p() > 0; }
}  // namespace

Tensor attention_mask(int64_t query_length, int64_t key_length, bool causal, const Tensor& key_padding) {
  Tensor mask;
  if (causal) {
    mask = Tensor::zeros({query_length, key_length});
    for (int64_t i = 0; i < query_length; ++i)
      for (int64_t j = i + 1; j < key_length; ++j) mask.data()[i * key_length + j] = 1;
  }
  if (key_padding.defined()) {
    const Tensor padding = reshape(key_padding.detach(), {key_padding.size(0), 1, 1, key_length});
    mask = mask.defined() ? add(mask, padding) : padding;
  }
  return mask;
}

std::optional<Scalar> fused_attention_scale(const Scorer& scorer, const AttendOptions& options, int64_t d_k) {
  const auto* scaled = dynamic_cast<const ScaledDotScorer*>(&scorer);
  if (!scaled || options.mask.defined() || dropout_active(options.dropout) || options.need_weights) return {};
  return scaled->scale().value(d_k);
}

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, Scorer& scorer,
                          const AttendOptions& options) {
  check_inputs(q, k, v);
  if (same_leading_axes(q, k) && same_leading_axes(q, v) && q.size(-1) == k.size(-1))
    if (const auto scale = fused_attention_scale(scorer, options, k.size(-1)))
      return {scaled_dot_product_attention(q, k, v, *scale, options.causal), {}, {}};

  const Tensor scores = scorer.scores(q, k);  // [.., Nq, Nk]
  Tensor mask = attention_mask(q.size(-2), k.size(-2), options.causal, Tensor());
  if (options.mask.defined()) mask = mask.defined() ? add(mask, options.mask) : options.mask;
  // -inf, not a large negative number: a hidden key gets exactly zero weight, and a row
  // with every key hidden gives zero weights (softmax's documented behaviour), not NaN.
  const Tensor masked = mask.defined() ? masked_fill(scores, mask, -std::numeric_limits<Scalar>::infinity()) : scores;
  const Tensor weights = softmax(masked);
  const Tensor attended = options.dropout ? options.dropout->forward(weights) : weights;
  return {matmul(attended, v), weights, scores};
}

}  // namespace qkv
