// A user's own score_mod, as examples/custom_score_mod.cpp walks through it: a learned
// penalty per head on the distance between query and key, s - w_h |i - j|. The bench and
// the flex attention tests use the same one.
#pragma once

#include <qkv/qkv.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

// One function of one score and its position, and its backward. The
// PointwiseScoreMod base runs them over the kernel's blocks; register_parameter makes w a
// parameter like any layer's (optimised, saved in checkpoints as "...scorer.score_mod.weight").
class DistancePenalty : public qkv::PointwiseScoreMod<DistancePenalty> {
 public:
  explicit DistancePenalty(int64_t heads) { weight_ = register_parameter("weight", qkv::Tensor::full({heads}, qkv::Scalar(0.1))); }

  qkv::Scalar score(qkv::Scalar s, const qkv::ScorePosition& at) const { return s - weight_.data()[at.head] * distance(at); }
  // grad = dL/d(score); return dL/ds (df/ds = 1) and add dL/dw_h = -grad |i - j|.
  qkv::Scalar backward(qkv::Scalar, qkv::Scalar grad, const qkv::ScorePosition& at, const qkv::ParameterGrads& grads) const {
    grads[0][at.head] -= grad * distance(at);
    return grad;
  }
  bool reads_scores() const override { return false; }  // neither depends on s: no recomputation
  // One weight per head: an attention with another number of heads is refused before it runs.
  void check_heads(int64_t heads) const override {
    if (weight_.numel() != heads)
      throw std::invalid_argument("DistancePenalty: weights for " + std::to_string(weight_.numel()) +
                                  " heads, the attention has " + std::to_string(heads));
  }

 private:
  static qkv::Scalar distance(const qkv::ScorePosition& at) { return static_cast<qkv::Scalar>(std::abs(at.i - at.j)); }
  qkv::Tensor weight_;
};
