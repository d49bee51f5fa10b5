// Scorer: the one interface every attention scoring function implements, so that the
// attention layer works with any of them, including a user's own (see docs/layers.md,
// "Writing a custom layer"). A scorer maps queries [.., Nq, d_q] and keys [.., Nk, d_k] to
// scores [.., Nq, Nk]; softmax and masking are the attention layer's job.
//
// Inside MultiHeadAttention the leading axes are [B, H]. A scorer with per-head parameters
// stores them with a leading head axis [H, ..] and reads axis -3 of its inputs as the head;
// with one head it accepts inputs of any rank >= 2.
//
// A scorer of the dot-product family also says how the fused kernel (flex_attention in
// core/ops.h) computes the same scores without storing them: fused() gives the scale of
// q . k and the score_mods that follow it, and prepare() what becomes of q and k first
// (RoPE rotates them, QK-norm normalises them, general multiplies q by W). A scorer whose
// fused() gives nothing (the additive one) always runs composed.
#pragma once

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/score_mod.h"
#include "layers/module.h"

namespace qkv {

struct FusedScoring {
  Scalar scale = 1;                                         // s = scale q . k, then
  std::vector<std::shared_ptr<const ScoreMod>> score_mods = {};  // each mod in turn
  bool prepares_inputs = false;                             // prepare() changes q or k
};

class Scorer : public Module {
 public:
  virtual Tensor scores(const Tensor& queries, const Tensor& keys) = 0;
  Tensor operator()(const Tensor& queries, const Tensor& keys) { return scores(queries, keys); }
  // How the fused kernel computes scores() for heads of width d_k; nothing when it cannot.
  virtual std::optional<FusedScoring> fused(int64_t d_k) const;
  // queries and keys [.., H, N, d] as the kernel multiplies them; the identity unless
  // fused()->prepares_inputs.
  virtual std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) { return {queries, keys}; }
};

// A wrapper scorer's fused form: its base's, with `mod` appended (null: nothing added).
std::optional<FusedScoring> with_score_mod(std::optional<FusedScoring> base, std::shared_ptr<const ScoreMod> mod);

// For scorers with per-head parameters: the view of a [H, ..] parameter to use against
// inputs (with one head the head axis is dropped, so any input rank broadcasts), after
// checking that axis -3 of `input` has H entries. `who` names the scorer in errors.
Tensor per_head_parameter(const Tensor& parameter, const Tensor& input, const char* who);

}  // namespace qkv
