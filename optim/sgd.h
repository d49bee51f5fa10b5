// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
// decay, exactly as torch.optim.SGD documents it. With g the gradient and t the update
// count of the parameter:
//   g <- g + weight_decay * theta
//   b <- g (t = 1), else momentum * b + (1 - dampening) * g      (when momentum != 0)
//   g <- g + momentum * b (nesterov), else g <- b                 (when momentum != 0)
//   theta <- theta - lr * g
#pragma once

#include "optim/optimizer.h"

namespace qkv {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  SGD(NamedParameters params, SGDOptions options) : SGD(std::vector<ParamGroup>{{std::move(params)}}, options) {}
  const SGDOptions& options() const { return options_; }

 private:
  void update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) override;
  SGDOptions options_;
};

}  // namespace qkv
