// A learned temperature on the dot product: score(q, k) = tau_h * q^T k, one tau per head.
// tau = exp(log_temperature), "log_temperature" [H]: exp keeps tau positive, and a
// step on its log changes tau by a factor, so the same learning rate can move it between
// 1/d_k and 1 (over three orders of magnitude at d_k = 1024).
// tau starts at a ScoreScale: 1/sqrt(d_k) (as scaled_dot) by default; ScoreScale::none()
// starts it unscaled, to see whether training finds a scale by itself.
#pragma once

#include "layers/scorers.h"

namespace qkv {

struct LearnedTemperatureScorerOptions {
  int64_t heads = 1;
  int64_t d_k = 0;
  ScoreScale initial = ScoreScale::inverse_sqrt_dk();  // tau at the start
};

class LearnedTemperatureScorer : public Scorer {
 public:
  explicit LearnedTemperatureScorer(const LearnedTemperatureScorerOptions& options);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: exp(log_temperature_h) times the kernel's q . k.
  std::optional<FusedScoring> fused(int64_t d_k) const override;
  Tensor temperature() const;  // tau = exp(log_temperature), [H], without history
  const Tensor& log_temperature() const { return log_temperature_; }  // the parameter, [H]

 private:
  LearnedTemperatureScorerOptions options_;
  Tensor log_temperature_;
};

}  // namespace qkv
