// Adam and AdamW, exactly as torch.optim.Adam and torch.optim.AdamW document them. With g
// the gradient and t the update count of the parameter:
//   Adam:  g <- g + weight_decay * theta          AdamW: theta <- theta * (1 - lr * weight_decay)
//   m <- beta1 * m + (1 - beta1) * g
//   v <- beta2 * v + (1 - beta2) * g^2
//   v_max <- max(v_max, v)                          (amsgrad; the max is of the raw v, as
//                                                    PyTorch's implementation keeps it)
//   theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
#pragma once

#include "optim/optimizer.h"

namespace qkv {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2 penalty added to the gradient
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: shrinks the weights, not the gradient
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options);
  Adam(NamedParameters params, AdamOptions options) : Adam(std::vector<ParamGroup>{{std::move(params)}}, options) {}
  const AdamOptions& options() const { return options_; }

 protected:
  // Both rules are the same but for where the weight decay goes.
  Adam(const char* kind, std::vector<ParamGroup> groups, AdamOptions options, bool decoupled_weight_decay);

 private:
  void update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) override;
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);
  AdamW(NamedParameters params, AdamWOptions options) : AdamW(std::vector<ParamGroup>{{std::move(params)}}, options) {}
};

}  // namespace qkv
