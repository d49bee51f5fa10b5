// attention(): attention over given queries, keys and values with any Scorer, the
// counterpart of PyTorch's F.scaled_dot_product_attention:
//   scores  = scorer(q, k), masked keys set to -inf         [.., Nq, Nk]
//   weights = softmax(scores) over the keys (then dropout)  [.., Nq, Nk]
//   output  = weights v                                     [.., Nq, d_v]
// q [.., Nq, d_q], k [.., Nk, d_k], v [.., Nk, d_v]; d_v may differ from d_k.
//
// With a ScaledDotScorer, no mask tensor, no active dropout and no request for the
// weights, it runs the fused kernel (scaled_dot_product_attention in core/ops.h), which
// never stores the [Nq, Nk] weights; otherwise the composition above, which stores them.
// Both give the same numbers (a test compares them).
#pragma once

#include <optional>

#include "layers/dropout.h"
#include "layers/scorer.h"

namespace qkv {

struct AttendOptions {
  Tensor mask;               // nonzero where a key is hidden; broadcastable to [.., Nq, Nk]
  bool causal = false;       // query i sees keys j <= i only
  Dropout* dropout = nullptr;  // on the weights, when the module is in train mode
  bool need_weights = false;   // also return weights and scores
};

struct AttentionResult {
  Tensor output;   // [.., Nq, d_v]
  Tensor weights;  // [.., Nq, Nk] before dropout, rows sum to 1 (0 if every key is hidden); if asked
  Tensor scores;   // [.., Nq, Nk] before masking and softmax; if asked
};

AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, Scorer& scorer,
                          const AttendOptions& options = {});

// The scale with which the fused kernel computes what attention() would with `scorer` and
// `options`, or nothing when only the composition can (another scorer, a mask, active
// dropout, or a request for the weights). d_k is the width of one head's queries and keys.
std::optional<Scalar> fused_attention_scale(const Scorer& scorer, const AttendOptions& options, int64_t d_k);

// The mask of keys each query may not see, nonzero where hidden, broadcastable to scores
// [B, H, Nq, Nk]: causal [Nq, Nk] (j > i), key padding [B, 1, 1, Nk], or their union;
// undefined when nothing is masked.
Tensor attention_mask(int64_t query_length, int64_t key_length, bool causal, const Tensor& key_padding);

}  // namespace qkv
