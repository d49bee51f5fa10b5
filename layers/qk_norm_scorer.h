// QK-norm (Henry et al. 2020, "Query-Key Normalization for Transformers"; Dehghani et al.
// 2023 normalise q and k the same way in ViT-22B):
//   score(q, k) = g_h * (q / |q|) . (k / |k|),   |x| = sqrt(sum x^2 + 1e-12)
// Normalising bounds every score to [-g, g] whatever d_k is, so the softmax cannot saturate
// because q and k are long; g (one per head, "scale" [H]) sets how peaked it may get.
// g starts at sqrt(d_k): for random directions the cosine has std 1/sqrt(d_k), so the
// scores start with std 1, as q^T k / sqrt(d_k) does for unit-variance components (and as
// LayerNorm-ed q, k of norm sqrt(d_k) scaled by 1/sqrt(d_k) do in Dehghani et al.).
#pragma once

#include "layers/scorer.h"

namespace qkv {

struct QKNormScorerOptions {
  int64_t heads = 1;
  int64_t d_k = 0;
  Scalar initial_scale = 0;  // g at the start; 0 means sqrt(d_k)
  bool learn_scale = true;   // false: g stays fixed and the scorer has no parameters
};

class QKNormScorer : public Scorer {
 public:
  explicit QKNormScorer(const QKNormScorerOptions& options);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: q and k normalised by prepare(), then g_h times the kernel's q . k.
  std::optional<FusedScoring> fused(int64_t d_k) const override;
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override;
  const Tensor& scale() const { return scale_; }  // g, [H]

 private:
  QKNormScorerOptions options_;
  Tensor scale_;
};

}  // namespace qkv
