// Adagrad, exactly as torch.optim.Adagrad documents it. With g the gradient and t the
// update count of the parameter:
//   lr_t <- lr / (1 + (t - 1) * lr_decay)
//   g <- g + weight_decay * theta
//   s <- s + g^2                   (s starts at initial_accumulator_value)
//   theta <- theta - lr_t * g / (sqrt(s) + eps)
#pragma once

#include "optim/optimizer.h"

namespace qkv {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
};

class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options);
  Adagrad(NamedParameters params, AdagradOptions options)
      : Adagrad(std::vector<ParamGroup>{{std::move(params)}}, options) {}
  const AdagradOptions& options() const { return options_; }

 private:
  void update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) override;
  AdagradOptions options_;
};

}  // namespace qkv
