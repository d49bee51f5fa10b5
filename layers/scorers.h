// The attention scoring functions of the seed document (docs/layers.md has the formulas).
// All map queries [.., Nq, d_q] and keys [.., Nk, d_k] to scores [.., Nq, Nk].
#pragma once

#include <string>

#include "core/generator.h"
#include "layers/init.h"
#include "layers/scorer.h"

namespace qkv {

// Luong dot: score(q, k) = q^T k. Needs d_q == d_k. No parameters.
class DotScorer : public Scorer {
 public:
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  std::optional<FusedScoring> fused(int64_t) const override { return FusedScoring{}; }
};

// The factor a ScaledDotScorer multiplies q^T k by: 1/sqrt(d_k) (Vaswani et al.), 1/d_k
// (muP, Yang et al. 2022: keeps scores O(1) once training has aligned q with k), 1, or a factor.
struct ScoreScale {
  enum class Mode { inverse_sqrt_dk, inverse_dk, none, factor };
  Mode mode = Mode::inverse_sqrt_dk;
  Scalar factor = 1;  // Mode::factor only

  static ScoreScale inverse_sqrt_dk() { return {Mode::inverse_sqrt_dk}; }
  static ScoreScale inverse_dk() { return {Mode::inverse_dk}; }
  static ScoreScale none() { return {Mode::none}; }
  static ScoreScale by(Scalar factor) { return {Mode::factor, factor}; }
  Scalar value(int64_t d_k) const;
  std::string str() const;  // "sqrt_dk", "dk", "none" or the factor
};
// "sqrt_dk" (1/sqrt(d_k)), "dk" (1/d_k), "none" (1) or a number (that factor);
// invalid_argument otherwise.
ScoreScale parse_score_scale(const std::string& text);

// Transformer: score(q, k) = q^T k * scale, scale 1/sqrt(d_k) by default. No parameters.
// The registry's kind "mup_dot" is this scorer with ScoreScale::inverse_dk().
class ScaledDotScorer : public Scorer {
 public:
  explicit ScaledDotScorer(ScoreScale scale = ScoreScale::inverse_sqrt_dk()) : scale_(scale) {}
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  std::optional<FusedScoring> fused(int64_t d_k) const override { return FusedScoring{.scale = scale_.value(d_k)}; }
  const ScoreScale& scale() const { return scale_; }

 private:
  ScoreScale scale_;
};

struct GeneralScorerOptions {
  int64_t heads = 1;
  int64_t d_q = 0;
  int64_t d_k = 0;
  Init init = Init::xavier_uniform();
};
// Luong general: score(q, k) = q^T W_a k, W_a "weight" [H, d_q, d_k]; d_q may differ from d_k.
class GeneralScorer : public Scorer {
 public:
  GeneralScorer(const GeneralScorerOptions& options, Generator& gen);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  // Fused: the kernel's q . k on (q W_a, k).
  std::optional<FusedScoring> fused(int64_t) const override { return FusedScoring{.scale = 1, .score_mods = {}, .prepares_inputs = true}; }
  std::pair<Tensor, Tensor> prepare(const Tensor& queries, const Tensor& keys) override;
  const Tensor& weight() const { return weight_; }  // W_a [H, d_q, d_k]

 private:
  GeneralScorerOptions options_;
  Tensor weight_;
};

struct AdditiveScorerOptions {
  int64_t heads = 1;
  int64_t d_q = 0;
  int64_t d_k = 0;
  int64_t hidden = 0;  // the width of tanh's layer; 0 means d_k
  Init init = Init::xavier_uniform();
};
// Bahdanau: score(q, k) = v_a^T tanh(W_a [q; k]). W_a = [W_q; W_k] is split so that
// W_a [q; k] = q W_q + k W_k: each query and key is projected once and the pairs are formed
// by broadcasting [.., Nq, 1, h] + [.., 1, Nk, h], never by concatenating every pair.
// Parameters: "query_weight" [H, d_q, h], "key_weight" [H, d_k, h], "v" [H, h, 1].
// It has no fused form: tanh of a sum is no function of q . k, and its [Nq, Nk, h] hidden
// layer is the cost, not the softmax, so it always runs composed.
class AdditiveScorer : public Scorer {
 public:
  AdditiveScorer(const AdditiveScorerOptions& options, Generator& gen);
  Tensor scores(const Tensor& queries, const Tensor& keys) override;
  const Tensor& query_weight() const { return query_weight_; }  // W_q [H, d_q, h]
  const Tensor& key_weight() const { return key_weight_; }      // W_k [H, d_k, h]
  const Tensor& v() const { return v_; }                        // v_a [H, h, 1]

 private:
  AdditiveScorerOptions options_;
  Tensor query_weight_, key_weight_, v_;
};

}  // namespace qkv
