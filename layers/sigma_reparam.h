// σReparam (Zhai et al. 2023, "Stabilizing Transformer Training by Preventing Attention
// Entropy Collapse"): a weight W is used as
//   W_hat = (gamma / sigma(W)) W,
// sigma(W) its spectral norm, estimated by power iteration with persistent vectors u [in]
// and v [out] (buffers "u", "v"), and gamma a learnable scalar (parameter "gamma" [1]).
// Each forward in train mode first takes one power-iteration step (v = W^T u / |.|,
// u = W v / |.|), with no gradient; then sigma = u^T W v, through which the gradient does
// flow to W (d sigma / dW = u v^T), as in the paper's implementation. In eval mode u and v
// stay put, so the function is deterministic.
#pragma once

#include "layers/module.h"

namespace qkv {

class SigmaReparam : public Module {
 public:
  // For a weight [in, out] that its owner keeps (the handle shares its data): u, v and
  // gamma are set from it by reset().
  explicit SigmaReparam(Tensor weight);
  Tensor reparametrized();  // W_hat (after one power step in train mode)
  // Power iteration to convergence on the weight's current values, then gamma = sigma(W),
  // so that W_hat = W: a model starts from the function it would have without σReparam.
  void reset();

  double sigma() const;  // u^T W v with the current u and v, outside the graph
  const Tensor& gamma() const { return gamma_; }

 private:
  void power_step();
  Tensor weight_, u_, v_, gamma_;
};

// reset() on every SigmaReparam in `model`: after its weights were initialised anew
// (train/build.h initialize_weights) or set by hand.
void reset_sigma_reparams(Module& model);

}  // namespace qkv
