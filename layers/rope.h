// Rotary position embedding (RoPE, Su et al. 2021, "RoFormer"). The row of x at position n
// has its pairs (x_{2i}, x_{2i+1}) rotated by the angle n * theta_i, theta_i = base^(-2i/d):
//   y_{2i}   = x_{2i} cos(n theta_i) - x_{2i+1} sin(n theta_i)
//   y_{2i+1} = x_{2i} sin(n theta_i) + x_{2i+1} cos(n theta_i)
// (the paper's interleaved pairs; GPT-NeoX and Hugging Face's Llama pair x_i with x_{i+d/2}
// instead, the same rotation on permuted features). Rotating q at position i and k at
// position j makes q_rot . k_rot = sum_i Re[(q_{2i} + i q_{2i+1}) conj(k_{2i} + i k_{2i+1})
// e^{i (i - j) theta_i}]: the score depends on q, k and the offset i - j only.
//
// RotaryScorer applies it inside attention as a wrapper scorer, like RelativeBiasScorer:
// rotate the queries and the keys, then score them with any base scorer.
#pragma once

#include <memory>

#include "layers/scorer.h"

namespace qkv {

// x [.., N, d] with d even; the position of a row is its index along axis -2, plus `offset`.
// Backward rotates the gradient by the opposite angles (a rotation's transpose is its
// inverse), so nothing of x is saved.
Tensor rotary_embedding(const Tensor& x, double base = 10000, int64_t offset = 0);

class RotaryScorer : public Scorer {
 public:
  explicit RotaryScorer(std::shared_ptr<Scorer> base, double rope_base = 10000);
  // base(rotary_embedding(queries), rotary_embedding(keys)); query i and key j at positions i, j.
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: the base's form on the rotated q and k.
  std::optional<FusedScoring> fused(int64_t d_k) const override;
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override;
  Scorer& base() { return *base_; }
  double rope_base() const { return rope_base_; }

 private:
  std::shared_ptr<Scorer> base_;
  double rope_base_;
};

}  // namespace qkv
