#include "layers/attention.h"

#include <stdexcept>
#include <string>

#include "core/masks.h"
#include "core/ops.h"

namespace qkv {
namespace {

// [B, N, H * d_head] -> [B, H, N, d_head]. With one head this is a view.
Tensor split_heads(const Tensor& x, int64_t heads) {
  const int64_t b = x.size(0), n = x.size(1), d_head = x.size(2) / heads;
  if (heads == 1) return reshape(x, {b, 1, n, d_head});
  return permute(reshape(x, {b, n, heads, d_head}), {0, 2, 1, 3});
}

// [B, H, N, d_head] -> [B, N, H * d_head].
Tensor merge_heads(const Tensor& x) {
  const int64_t b = x.size(0), heads = x.size(1), n = x.size(2), d_head = x.size(3);
  if (heads == 1) return reshape(x, {b, n, d_head});
  return reshape(permute(x, {0, 2, 1, 3}), {b, n, heads * d_head});
}

void require_input(const Tensor& x, int64_t width, const char* what) {
  if (x.dim() != 3 || x.size(2) != width)
    throw std::invalid_argument(std::string("MultiHeadAttention: ") + what + " must be [B, N, " +
                                std::to_string(width) + "], got " + shape_str(x.shape()));
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(const AttentionOptions& options, Generator& gen) : options_(options) {
  if (options_.d_model <= 0 || options_.heads <= 0)
    throw std::invalid_argument("MultiHeadAttention: d_model and heads must be positive, got d_model=" +
                                std::to_string(options_.d_model) + " heads=" + std::to_string(options_.heads));
  if (options_.d_head == 0) {
    if (options_.d_model % options_.heads != 0)
      throw std::invalid_argument("MultiHeadAttention: heads=" + std::to_string(options_.heads) +
                                  " does not divide d_model=" + std::to_string(options_.d_model) +
                                  "; choose a divisor or set d_head explicitly");
    options_.d_head = options_.d_model / options_.heads;
  }
  if (options_.d_head < 0) throw std::invalid_argument("MultiHeadAttention: d_head must be positive");
  if (options_.d_kv_input == 0) options_.d_kv_input = options_.d_model;
  if (options_.kv_heads == 0) options_.kv_heads = options_.heads;
  if (options_.kv_heads < 0 || options_.heads % options_.kv_heads != 0)
    throw std::invalid_argument("MultiHeadAttention: kv_heads=" + std::to_string(options_.kv_heads) +
                                " must divide heads=" + std::to_string(options_.heads));
  if (options_.window < 0)
    throw std::invalid_argument("MultiHeadAttention: window must be >= 0 (0: none), got " + std::to_string(options_.window));
  const int64_t inner = options_.heads * options_.d_head, kv_inner = options_.kv_heads * options_.d_head;
  auto linear = [&](int64_t in, int64_t out) {
    return std::make_shared<Linear>(LinearOptions{.in_features = in, .out_features = out, .bias = options_.bias,
                                                .sigma_reparam = options_.sigma_reparam}, gen);
  };
  q_ = register_module("q", linear(options_.d_model, inner));
  k_ = register_module("k", linear(options_.d_kv_input, kv_inner));
  v_ = register_module("v", linear(options_.d_kv_input, kv_inner));
  out_ = register_module("out", linear(inner, options_.d_model));
  options_.scorer.heads = options_.heads;
  options_.scorer.d_q = options_.d_head;
  options_.scorer.d_k = options_.d_head;
  scorer_ = register_module("scorer", make_scorer(options_.scorer, gen));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options_.dropout, gen));
  if (options_.sink) {
    if (options_.normalizer != AttentionNormalizer::softmax)
      throw std::invalid_argument("MultiHeadAttention: a sink is a softmax logit; sigmoid attention has none");
    sink_ = register_parameter("sink", Tensor::zeros({options_.heads}));
  }
}

AttentionResult MultiHeadAttention::forward(const Tensor& x, const Tensor& key_padding, bool need_weights) {
  return forward_cross(x, x, key_padding, need_weights);
}

AttentionResult MultiHeadAttention::forward_cross(const Tensor& queries_input, const Tensor& keys_values_input,
                                                  const Tensor& key_padding, bool need_weights) {
  require_input(queries_input, options_.d_model, "the query input");
  require_input(keys_values_input, options_.d_kv_input, "the key/value input");
  const int64_t batch = queries_input.size(0), nk = keys_values_input.size(1);
  if (keys_values_input.size(0) != batch)
    throw std::invalid_argument("MultiHeadAttention: query input " + shape_str(queries_input.shape()) +
                                " and key/value input " + shape_str(keys_values_input.shape()) +
                                " have different batch sizes");
  if (key_padding.defined() && key_padding.shape() != Shape{batch, nk})
    throw std::invalid_argument("MultiHeadAttention: key_padding must be [B, Nk] = " + shape_str({batch, nk}) +
                                ", got " + shape_str(key_padding.shape()));

  const int64_t h = options_.heads, h_kv = options_.kv_heads;
  AttendOptions attend;
  const auto window = options_.window > 0 ? sliding_window_mask(options_.window, options_.causal)
                                          : options_.causal ? causal_mask() : nullptr;
  attend.mask_mod = mask_union({window, key_padding.defined() ? key_padding_mask(key_padding) : nullptr});
  attend.dropout = dropout_.get();
  attend.need_weights = need_weights;
  attend.row_stats = row_stats_ && !need_weights;
  attend.normalizer = options_.normalizer;
  attend.sink = sink_;
  // A scorer that leaves q and k as they are runs fused on the heads where the projections
  // wrote them; every other path splits them into [B, H, N, d_head] and merges the result.
  const auto flex = fused_attention_options(*scorer_, attend, options_.d_head, nk);
  const bool in_place = flex && !scorer_->fused(options_.d_head)->prepares_inputs;
  const auto packed = [&] {
    FlexAttentionOptions o = *flex;
    o.heads = h;
    o.kv_heads = h_kv;
    return o;
  };
  // Self-attention is one tensor passed twice: a view or a detached copy of x shares its
  // data but not its gradient.
  const bool self = queries_input.impl() == keys_values_input.impl();
  if (in_place && self && one_projection(queries_input)) {
    const FlexAttentionResult r = flex_attention_qkv(project_qkv(queries_input), packed());
    return {out_->forward(r.output), {}, {}, r.row_stats};
  }
  // In this order, which the tape keeps: it decides the order in which x's three gradients
  // are added, and so their bits.
  const Tensor q = q_->forward(queries_input);  // [B, Nq, H * d_head]
  const Tensor k = k_->forward(keys_values_input);  // [B, Nk, H_kv * d_head]
  const Tensor v = v_->forward(keys_values_input);
  if (in_place) {
    const FlexAttentionResult r = flex_attention(q, k, v, packed());
    return {out_->forward(r.output), {}, {}, r.row_stats};
  }
  AttentionResult r = attention(split_heads(q, h), split_heads(k, h_kv), split_heads(v, h_kv), *scorer_, attend);
  r.output = out_->forward(merge_heads(r.output));  // heads [B, H, Nq, d_head] -> [B, Nq, d_model]
  return r;
}

// bf16 products round their left operand on every call: Q, K and V from three products
// rounded X three times in the forward and X^T three times for their weights' gradients.
// One product only where all three would run in bf16: each element of it then sums as in
// its own product, to the bit. A projection that would stay float32 (narrower than a bf16
// panel, X within the L1 cache, or bf16 not paying on this CPU) keeps the three, and with
// them float32's bits: there one product gained 2%.
bool MultiHeadAttention::one_projection(const Tensor& x) const {
  if (options_.sigma_reparam) return false;
  const int64_t rows = x.numel() / options_.d_model;
  for (const int64_t width : {options_.heads * options_.d_head, options_.kv_heads * options_.d_head})
    if (product_precision(rows, width, options_.d_model) != Precision::bf16) return false;
  return true;
}

Tensor MultiHeadAttention::project_qkv(const Tensor& x) const {
  const Tensor weight = concat({q_->weight(), k_->weight(), v_->weight()}, 1);
  const Tensor bias = options_.bias ? concat({q_->bias(), k_->bias(), v_->bias()}, 0) : Tensor();
  return linear(x, weight, bias);
}

}  // namespace qkv
