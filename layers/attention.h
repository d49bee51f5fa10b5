// Multi-head attention (Vaswani et al. 2017) with any Scorer:
//   Q = X_q W_Q, K = X_kv W_K, V = X_kv W_V, split into H heads of width d_head,
//   weights = softmax over keys of the masked scores, heads = weights V,
//   output = concat(heads) W_O.
// Self-attention is forward(x); cross-attention is forward_cross(queries_input, keys_values_input).
#pragma once

#include <memory>

#include "core/generator.h"
#include "core/ops.h"
#include "layers/attention_function.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/scorer_registry.h"

namespace qkv {

struct AttentionOptions {
  int64_t d_model = 0;
  int64_t heads = 1;
  int64_t d_head = 0;      // width of each head's q, k, v; 0 means d_model / heads
  int64_t d_kv_input = 0;  // width of the key/value input of cross-attention; 0 means d_model
  // The scoring function; heads, d_q and d_k are filled in from the options above.
  ScorerOptions scorer;
  bool causal = false;  // query i sees keys j <= i only
  Scalar dropout = 0;   // on the attention weights, in train mode
  bool bias = true;     // biases of the four projections
  // Key/value heads; 0 means heads. Fewer (a divisor of heads) is grouped-query attention
  // (Ainslie et al. 2023), 1 multi-query attention (Shazeer 2019): W_K and W_V shrink.
  int64_t kv_heads = 0;
  int64_t window = 0;  // > 0: query i sees only keys with |i - j| < window (sliding window)
  bool sink = false;   // a learnable sink logit per head, "sink" [H], starting at 0
  AttentionNormalizer normalizer = AttentionNormalizer::softmax;  // or sigmoid(s - log Nk)
  bool sigma_reparam = false;  // the four projections' weights (layers/sigma_reparam.h)
};

class MultiHeadAttention : public Module {
 public:
  // W_Q, W_K, W_V, W_O: Xavier-uniform weights, zero biases; the scorer's own defaults.
  MultiHeadAttention(const AttentionOptions& options, Generator& gen);

  // key_padding: [B, Nk] of 0/1, 1 where the key is padding (it gets exactly zero weight).
  // The result's output is [B, Nq, d_model]; its weights and scores are [B, H, Nq, Nk],
  // and are computed only when need_weights (without them, scaled dot-product attention
  // runs fused and never stores them).
  AttentionResult forward(const Tensor& x, const Tensor& key_padding = {}, bool need_weights = true);
  AttentionResult forward_cross(const Tensor& queries_input, const Tensor& keys_values_input,
                                const Tensor& key_padding = {}, bool need_weights = true);
  // Also return the fused kernel's row statistics [B, H, Nq, kAttentionRowStats] when the
  // weights are not asked for (the probes' statistics without the [Nq, Nk] weights).
  void set_row_stats(bool on) { row_stats_ = on; }

  const AttentionOptions& options() const { return options_; }
  Scorer& scorer() { return *scorer_; }

 private:
  AttentionOptions options_;
  std::shared_ptr<Linear> q_, k_, v_, out_;
  std::shared_ptr<Scorer> scorer_;
  std::shared_ptr<Dropout> dropout_;
  Tensor sink_;
  bool row_stats_ = false;

  // Whether a self-attention on x projects Q, K and V with one product (where all three
  // run in bf16; attention.cpp), and that product: X [W_Q | W_K | W_V] + [b_Q | b_K | b_V],
  // read by flex_attention_qkv.
  bool one_projection(const Tensor& x) const;
  Tensor project_qkv(const Tensor& x) const;
};

}  // namespace qkv
