// attention(): attention over given queries, keys and values with any Scorer, the
// counterpart of PyTorch's F.scaled_dot_product_attention:
//   scores  = scorer(q, k), hidden keys set to -inf          [.., H, Nq, Nk]
//   weights = softmax(scores) over the keys (then dropout)   [.., H, Nq, Nk]
//             (or sigmoid(scores - log Nk); or a softmax with a sink logit per head)
//   output  = weights v                                      [.., H, Nq, d_v]
// q [.., H, Nq, d_q], k [.., H_kv, Nk, d_k], v [.., H_kv, Nk, d_v]; H_kv divides H
// (grouped-query attention: query head h reads key/value head h / (H / H_kv)).
//
// When the scorer has a fused form (Scorer::fused: every dot-product scorer), no mask
// tensor is given, dropout is off and nobody asks for the weights, it runs the fused
// kernel (flex_attention in core/ops.h), which never stores the [Nq, Nk] scores; otherwise
// the composition above, which stores them. Both give the same numbers (tests compare
// them for every scorer and mask).
#pragma once

#include <memory>

#include "core/ops.h"
#include "layers/dropout.h"
#include "layers/scorer.h"

namespace qkv {

struct AttendOptions {
  Tensor mask;                              // nonzero where hidden, broadcastable to [.., Nq, Nk]; composed only
  std::shared_ptr<const MaskMod> mask_mod;  // keys hidden, fused or composed (core/masks.h)
  bool causal = false;                      // query i sees keys j <= i only
  Dropout* dropout = nullptr;               // on the weights, when the module is in train mode
  bool need_weights = false;                // also return weights and scores (composed)
  bool row_stats = false;                   // also return the fused kernel's row statistics
  AttentionNormalizer normalizer = AttentionNormalizer::softmax;  // sigmoid: bias -log(Nk)
  Tensor sink;                              // [H] sink logits, or undefined
};

struct AttentionResult {
  Tensor output;     // [.., Nq, d_v]
  Tensor weights;    // [.., Nq, Nk] before dropout, rows sum to 1 (0 if every key is hidden); if asked
  Tensor scores;     // [.., Nq, Nk] before masking and softmax; if asked
  Tensor row_stats;  // [.., H, Nq, kAttentionRowStats] from the fused kernel; if asked
};

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, Scorer& scorer,
                          const AttendOptions& options = {});

// The fused kernel's settings for `scorer` and `options`, or nothing when only the
// composition can run them (no fused form, a mask tensor, active dropout, or a request for
// the weights). d_k is the width of one head's queries and keys; n_keys gives sigmoid
// attention its -log(Nk).
std::optional<FlexAttentionOptions> fused_attention_options(const Scorer& scorer, const AttendOptions& options,
                                                           int64_t d_k, int64_t n_keys);

// The mask of keys each query may not see, nonzero where hidden, broadcastable to scores
// [B, H, Nq, Nk]: causal [Nq, Nk] (j > i), key padding [B, 1, 1, Nk], or their union;
// undefined when nothing is masked.
Tensor attention_mask(int64_t query_length, int64_t key_length, bool causal, const Tensor& key_padding);

// [.., H_kv, N, d] -> [.., H_kv * group, N, d], each key/value head repeated for the `group`
// query heads that share it (the composed path of grouped-query attention). A rank-2 x
// [N, d] has no head axis and is returned as it is: the products broadcast it over every
// head of the queries.
Tensor repeat_kv_heads(const Tensor& x, int64_t group);

}  // namespace qkv
