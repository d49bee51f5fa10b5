#include "layers/score_mod_scorer.h"

#include <stdexcept>

#include "core/ops.h"

namespace qkv {

ScoreModScorer::ScoreModScorer(std::shared_ptr<Scorer> base, std::shared_ptr<LearnableScoreMod> mod)
    : base_(register_module("base", std::move(base))), mod_(register_module("score_mod", std::move(mod))) {
  if (!base_ || !mod_) throw std::invalid_argument("ScoreModScorer: needs a base scorer and a score_mod");
}

Tensor ScoreModScorer::scores(const Tensor& queries, const Tensor& keys) {
  return apply_score_mod(base_->scores(queries, keys), mod_);
}

SoftcapScorer::SoftcapScorer(std::shared_ptr<Scorer> base, Scalar cap)
    : base_(register_module("base", std::move(base))), cap_(cap), mod_(std::make_shared<SoftcapMod>(cap)) {}

Tensor SoftcapScorer::scores(const Tensor& queries, const Tensor& keys) {
  return mul(tanh(mul(base_->scores(queries, keys), 1 / cap_)), cap_);
}

}  // namespace qkv
