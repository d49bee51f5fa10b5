// Scorers made of a base scorer and one score_mod, fused and composed alike.
#pragma once

#include <memory>

#include "layers/score_mods.h"
#include "layers/scorer.h"

namespace qkv {

// base(q, k), then a score_mod: composed through apply_score_mod, fused as one more mod in
// the kernel. This is how a user's own score function becomes a scorer (register it with
// register_scorer, layers/scorer_registry.h): its parameters are this scorer's
// ("score_mod.<name>").
class ScoreModScorer : public Scorer {
 public:
  ScoreModScorer(std::shared_ptr<Scorer> base, std::shared_ptr<LearnableScoreMod> mod);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  std::optional<FusedScoring> fused(int64_t d_k) const override { return with_score_mod(base_->fused(d_k), mod_); }
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override {
    return base_->prepare(queries, keys);
  }
  Scorer& base() { return *base_; }
  LearnableScoreMod& score_mod() { return *mod_; }

 private:
  std::shared_ptr<Scorer> base_;
  std::shared_ptr<LearnableScoreMod> mod_;
};

// Logit soft-capping (Gemma 2): c tanh(base(q, k) / c), so no score leaves (-c, c) and the
// softmax cannot saturate on one huge logit. Composed with qkv's tanh op; fused with
// SoftcapMod.
class SoftcapScorer : public Scorer {
 public:
  SoftcapScorer(std::shared_ptr<Scorer> base, Scalar cap);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  std::optional<FusedScoring> fused(int64_t d_k) const override { return with_score_mod(base_->fused(d_k), mod_); }
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override {
    return base_->prepare(queries, keys);
  }
  Scalar cap() const { return cap_; }

 private:
  std::shared_ptr<Scorer> base_;
  Scalar cap_;
  std::shared_ptr<const ScoreMod> mod_;
};

}  // namespace qkv
