// score_mods as layers: a learnable mod is a Module (its parameters are saved, loaded and
// optimised like any layer's) and a ScoreMod (core/score_mod.h) the fused kernel runs.
//
// A user's own score function: derive from PointwiseScoreMod<YourMod> and define
//   Scalar score(Scalar s, const ScorePosition& at) const;         // f(s)
//   Scalar backward(Scalar s, Scalar grad, const ScorePosition& at,
//                   const ParameterGrads& grads) const;            // grad * df/ds; adds grad * df/dtheta
// then wrap it in a ScoreModScorer (examples/custom_score_mod.cpp registers one as a
// scorer kind and trains it from a config).
#pragma once

#include <memory>

#include "core/score_mod.h"
#include "layers/module.h"
#include "layers/relative_bias.h"

namespace qkv {

class LearnableScoreMod : public Module, public ScoreMod {
 public:
  std::vector<Tensor> score_parameters() const override { return parameters(); }
};

// The position of one score: entry (batch, head), query i, key j.
struct ScorePosition {
  int64_t batch, head, i, j;
};

template <class Derived>
class PointwiseScoreMod : public LearnableScoreMod {
 public:
  void apply(const ScoreBlock& b) const override {
    const Derived& self = static_cast<const Derived&>(*this);
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c = 0; c < b.cols; ++c) {
        Scalar& s = b.at(r, c);
        s = self.score(s, ScorePosition{b.batch, b.head, b.q0 + r, b.k0 + c});
      }
  }
  void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const override {
    const Derived& self = static_cast<const Derived&>(*this);
    for (int64_t r = 0; r < grad.rows; ++r)
      for (int64_t c = 0; c < grad.cols; ++c) {
        Scalar& g = grad.at(r, c);
        const Scalar s = scores.s ? scores.at(r, c) : Scalar(0);
        g = self.backward(s, g, ScorePosition{grad.batch, grad.head, grad.q0 + r, grad.k0 + c}, grads);
      }
  }
};

// The composed counterpart of the fused kernel's mod: f applied to materialised scores
// [.., H, Nq, Nk] (rank 2: one head, batch 0), differentiable through the mod's own
// backward, so that a user's mod also runs unfused (when the weights are asked for).
Tensor apply_score_mod(const Tensor& scores, std::shared_ptr<const ScoreMod> mod);

// s * g_h, g = parameter [H] (exp(parameter) when `exponential`): the learned temperature
// and QK-norm's gain.
class HeadScaleMod : public ScoreMod {
 public:
  HeadScaleMod(Tensor parameter, bool exponential) : parameter_(std::move(parameter)), exponential_(exponential) {}
  void apply(const ScoreBlock& block) const override;
  void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const override;
  std::vector<Tensor> score_parameters() const override { return {parameter_}; }

 private:
  Scalar gain(int64_t head) const;
  Tensor parameter_;
  bool exponential_;
};

// s + R_h[bucket(i - j)]: RelativePositionBias's table, without its [H, Nq, Nk] tensor.
class RelativeBiasMod : public ScoreMod {
 public:
  explicit RelativeBiasMod(const RelativePositionBias& bias);
  void apply(const ScoreBlock& block) const override;
  void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const override;
  bool reads_scores() const override { return false; }
  std::vector<Tensor> score_parameters() const override { return {table_}; }

 private:
  int64_t bucket(int64_t offset) const;  // of i - j
  Tensor table_;
  int64_t reach_;                  // buckets stop changing beyond |i - j| = reach_
  std::vector<int64_t> buckets_;   // of i - j = -reach_ .. reach_
};

// s - m_h |i - j| with ALiBi's fixed slopes (layers/alibi.h).
class AlibiMod : public ScoreMod {
 public:
  explicit AlibiMod(int64_t heads);
  void apply(const ScoreBlock& block) const override;
  void backward(const ScoreBlock&, const ScoreBlock&, const ParameterGrads&) const override {}  // df/ds = 1
  bool reads_scores() const override { return false; }

 private:
  std::vector<Scalar> slopes_;
};

// c tanh(s / c) (logit soft-capping, Gemma 2): scores stay inside (-c, c).
class SoftcapMod : public ScoreMod {
 public:
  explicit SoftcapMod(Scalar cap);
  void apply(const ScoreBlock& block) const override;
  void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const override;

 private:
  Scalar cap_;
};

}  // namespace qkv
