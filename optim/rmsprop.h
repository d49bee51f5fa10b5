// RMSprop, exactly as torch.optim.RMSprop documents it. With g the gradient:
//   g <- g + weight_decay * theta
//   v <- alpha * v + (1 - alpha) * g^2
//   centered: g_avg <- alpha * g_avg + (1 - alpha) * g, and v~ = v - g_avg^2; else v~ = v
//   momentum > 0: b <- momentum * b + g / (sqrt(v~) + eps), theta <- theta - lr * b
//   otherwise:    theta <- theta - lr * g / (sqrt(v~) + eps)
#pragma once

#include "optim/optimizer.h"

namespace qkv {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options);
  RMSprop(NamedParameters params, RMSpropOptions options)
      : RMSprop(std::vector<ParamGroup>{{std::move(params)}}, options) {}
  const RMSpropOptions& options() const { return options_; }

 private:
  void update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) override;
  RMSpropOptions options_;
  int momentum_slot_ = -1;  // index in the slots, or -1 when unused
  int grad_avg_slot_ = -1;
};

}  // namespace qkv
