// ALiBi (Press et al. 2022, "Train Short, Test Long"): no position vectors; each head h adds
// a fixed linear penalty on the distance between query i and key j,
//   score(i, j) = base_score(q_i, k_j) - m_h * |i - j|,
// with the paper's head slopes: for H a power of two, m_h = 2^(-8 h / H), h = 1..H (H = 8:
// 1/2, 1/4, ..., 1/256); otherwise the slopes of the power of two below H, then every other
// slope of twice that power until there are H (the paper's get_slopes). The paper's models
// are causal, where |i - j| = i - j for every visible key; bidirectional attention uses the
// same penalty in both directions.
// AlibiScorer is a wrapper scorer, like RelativeBiasScorer; it has no parameters.
#pragma once

#include <memory>
#include <vector>

#include "layers/scorer.h"

namespace qkv {

std::vector<double> alibi_slopes(int64_t heads);
// -m_h |i - j| as [H, Nq, Nk], or [Nq, Nk] with one head.
Tensor alibi_bias(int64_t heads, int64_t query_length, int64_t key_length);

class AlibiScorer : public Scorer {
 public:
  AlibiScorer(std::shared_ptr<Scorer> base, int64_t heads);
  // base scores [.., (H,) Nq, Nk] + the bias, broadcast over the batch.
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: the base's form, then - m_h |i - j| as a score_mod.
  std::optional<FusedScoring> fused(int64_t d_k) const override;
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override {
    return base_->prepare(queries, keys);
  }
  Scorer& base() { return *base_; }
  int64_t heads() const { return heads_; }

 private:
  std::shared_ptr<Scorer> base_;
  int64_t heads_;
  std::shared_ptr<const ScoreMod> mod_;
  Tensor bias_;  // of the last (Nq, Nk) asked for: rebuilt only when they change
};

}  // namespace qkv
