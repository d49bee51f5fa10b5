// Scorer: the one interface every attention scoring function implements, so that the
// attention layer works with any of them, including a user's own (see docs/layers.md,
// "Writing a custom layer"). A scorer maps queries [.., Nq, d_q] and keys [.., Nk, d_k] to
// scores [.., Nq, Nk]; softmax and masking are the attention layer's job.
//
// Inside MultiHeadAttention the leading axes are [B, H]. A scorer with per-head parameters
// stores them with a leading head axis [H, ..] and reads axis -3 of its inputs as the head;
// with one head it accepts inputs of any rank >= 2.
#pragma once

#include "layers/module.h"

namespace qkv {

class Scorer : public Module {
 public:
  virtual Tensor scores(const Tensor& queries, const Tensor& keys) = 0;
  Tensor operator()(const Tensor& queries, const Tensor& keys) { return scores(queries, keys); }
};

// For scorers with per-head parameters: the view of a [H, ..] parameter to use against
// inputs (with one head the head axis is dropped, so any input rank broadcasts), after
// checking that axis -3 of `input` has H entries. `who` names the scorer in errors.
Tensor per_head_parameter(const Tensor& parameter, const Tensor& input, const char* who);

}  // namespace qkv
