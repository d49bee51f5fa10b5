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

#include <algorithm>
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
  // Both run over local copies of a row, 64 scores at a time: a user's backward adds to a
  // parameter's gradient (grads[p][...] +=) and a user's score reads parameters, and were
  // the block read and written in place the compiler would have to assume each write may
  // change them, storing and reloading at every score. Local arrays alias nothing, so a
  // gradient's sum can stay in a register and a parameter be read once (with
  // examples/distance_penalty.h a fifth off a fused step and off a composed one).
  void apply(const ScoreBlock& b) const override {
    const Derived& self = static_cast<const Derived&>(*this);
    constexpr int64_t kChunk = 64;
    Scalar s[kChunk];
    for (int64_t r = 0; r < b.rows; ++r)
      for (int64_t c0 = 0; c0 < b.cols; c0 += kChunk) {
        const int64_t width = std::min(kChunk, b.cols - c0);
        std::copy_n(&b.at(r, c0), width, s);
        for (int64_t c = 0; c < width; ++c) s[c] = self.score(s[c], ScorePosition{b.batch, b.head, b.q0 + r, b.k0 + c0 + c});
        std::copy_n(s, width, &b.at(r, c0));
      }
  }
  void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const override {
    const Derived& self = static_cast<const Derived&>(*this);
    constexpr int64_t kChunk = 64;
    Scalar g[kChunk], s[kChunk] = {};
    for (int64_t r = 0; r < grad.rows; ++r)
      for (int64_t c0 = 0; c0 < grad.cols; c0 += kChunk) {
        const int64_t width = std::min(kChunk, grad.cols - c0);
        std::copy_n(&grad.at(r, c0), width, g);
        if (scores.s) std::copy_n(&scores.at(r, c0), width, s);
        for (int64_t c = 0; c < width; ++c)
          g[c] = self.backward(s[c], g[c], ScorePosition{grad.batch, grad.head, grad.q0 + r, grad.k0 + c0 + c}, grads);
        std::copy_n(g, width, &grad.at(r, c0));
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
  void check_heads(int64_t heads) const override;

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
  void check_heads(int64_t heads) const override;

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
  void check_heads(int64_t heads) const override;

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
