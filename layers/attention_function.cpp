#include "layers/attention_function.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/masks.h"
#include "core/ops.h"

namespace qkv {
namespace {
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2 || k.size(-2) != v.size(-2))
    throw std::invalid_argument("attention: need q [.., Nq, d_q], k [.., Nk, d_k] and v [.., Nk, d_v], got q " +
                                shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
}

bool dropout_active(const Dropout* dropout) { return dropout && dropout->is_training() && dropout->p() > 0; }

// Sigmoid attention's -log(n) (Ramapuram et al. 2024): with n keys the weights start near
// 1/n each, as a softmax's do.
Scalar sigmoid_bias(int64_t n_keys) { return -std::log(static_cast<Scalar>(std::max<int64_t>(n_keys, 1))); }

int64_t heads_of(const Tensor& x) { return x.dim() >= 3 ? x.size(-3) : 1; }

// The options' mask as a tensor shaped like the scores, 1 where hidden.
Tensor composed_mask(const AttendOptions& options, const Tensor& scores) {
  Tensor mask = attention_mask(scores.size(-2), scores.size(-1), options.causal, Tensor());
  if (options.mask_mod) {
    const int64_t heads = heads_of(scores), nq = scores.size(-2), nk = scores.size(-1);
    const int64_t batch = heads * nq * nk > 0 ? scores.numel() / (heads * nq * nk) : 0;
    const Tensor m = reshape(mask_tensor(*options.mask_mod, batch, heads, nq, nk), scores.shape());
    mask = mask.defined() ? add(mask, m) : m;
  }
  if (options.mask.defined()) mask = mask.defined() ? add(mask, options.mask) : options.mask;
  return mask;
}

// softmax over the keys and a sink logit per head [H]: the sink is one more column of the
// scores with no value behind it, dropped after the softmax.
Tensor softmax_with_sink(const Tensor& scores, const Tensor& sink, int64_t heads) {
  if (sink.dim() != 1 || sink.size(0) != heads)
    throw std::invalid_argument("attention: the sink must be [heads] = [" + std::to_string(heads) + "], got " +
                                shape_str(sink.shape()));
  Shape column = scores.shape();
  column.back() = 1;
  const Tensor per_head = scores.dim() >= 3 ? reshape(sink, {sink.size(0), 1, 1}) : reshape(sink, {1, 1});
  const Tensor weights = softmax(concat({scores, expand(per_head, column)}, -1));
  return slice(weights, -1, 0, scores.size(-1));
}
}  // namespace

Tensor attention_mask(int64_t query_length, int64_t key_length, bool causal, const Tensor& key_padding) {
  Tensor mask;
  if (causal) mask = reshape(mask_tensor(*causal_mask(), 1, 1, query_length, key_length), {query_length, key_length});
  if (key_padding.defined()) {
    const Tensor padding = reshape(key_padding.detach(), {key_padding.size(0), 1, 1, key_length});
    mask = mask.defined() ? add(mask, padding) : padding;
  }
  return mask;
}

Tensor repeat_kv_heads(const Tensor& x, int64_t group) {
  if (group == 1 || x.dim() < 3) return x;
  Shape grouped = x.shape(), repeated = x.shape();
  grouped.insert(grouped.end() - 2, 1);  // [.., H_kv, 1, N, d]
  Shape expanded = grouped;
  expanded[expanded.size() - 3] = group;
  repeated[repeated.size() - 3] *= group;
  return reshape(expand(reshape(x, grouped), expanded), repeated);
}

std::optional<FlexAttentionOptions> fused_attention_options(const Scorer& scorer, const AttendOptions& options,
                                                           int64_t d_k, int64_t n_keys) {
  if (options.mask.defined() || dropout_active(options.dropout) || options.need_weights) return {};
  const std::optional<FusedScoring> form = scorer.fused(d_k);
  if (!form) return {};
  FlexAttentionOptions flex;
  flex.scale = form->scale;
  flex.score_mods = form->score_mods;
  flex.mask_mod = mask_union({options.causal ? causal_mask() : nullptr, options.mask_mod});
  flex.normalizer = options.normalizer;
  if (options.normalizer == AttentionNormalizer::sigmoid) flex.sigmoid_bias = sigmoid_bias(n_keys);
  flex.sink = options.sink;
  flex.row_stats = options.row_stats;
  return flex;
}

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, Scorer& scorer,
                          const AttendOptions& options) {
  check_inputs(q, k, v);
  if (const auto flex = fused_attention_options(scorer, options, k.size(-1), k.size(-2))) {
    const bool prepares = scorer.fused(k.size(-1))->prepares_inputs;
    const auto [qp, kp] = prepares ? scorer.prepare(q, k) : std::pair<Tensor, Tensor>{q, k};
    if (q.dim() == k.dim() && qp.size(-1) == kp.size(-1)) {
      FlexAttentionResult r = flex_attention(qp, kp, v, *flex);
      return {r.output, {}, {}, r.row_stats};
    }
  }

  const int64_t heads = heads_of(q), kv_heads = heads_of(k);
  if (kv_heads == 0 || heads % kv_heads != 0 || heads_of(v) != kv_heads)
    throw std::invalid_argument("attention: the heads of k and v (axis -3) must divide those of q; got q " +
                                shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  const Tensor keys = repeat_kv_heads(k, heads / kv_heads), values = repeat_kv_heads(v, heads / kv_heads);
  const Tensor scores = scorer.scores(q, keys);  // [.., Nq, Nk]
  const Tensor mask = composed_mask(options, scores);
  // -inf, not a large negative number: a hidden key gets exactly zero weight, and a row
  // with every key hidden gives zero weights (softmax's documented behaviour), not NaN.
  const Tensor masked = mask.defined() ? masked_fill(scores, mask, -std::numeric_limits<Scalar>::infinity()) : scores;
  Tensor weights;
  if (options.normalizer == AttentionNormalizer::sigmoid)
    weights = sigmoid(add(masked, sigmoid_bias(k.size(-2))));
  else if (options.sink.defined())
    weights = softmax_with_sink(masked, options.sink, heads);
  else
    weights = softmax(masked);
  const Tensor attended = options.dropout ? options.dropout->forward(weights) : weights;
  return {matmul(attended, values), weights, scores, {}};
}

}  // namespace qkv
