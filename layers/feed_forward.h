// The position-wise feed-forward block of a Transformer: Linear(d_model -> d_ff), an
// activation, dropout, Linear(d_ff -> d_model). Both Linears use Xavier-uniform weights
// and zero biases.
#pragma once

#include <memory>

#include "layers/activation.h"
#include "layers/dropout.h"
#include "layers/linear.h"

namespace qkv {

struct FeedForwardOptions {
  int64_t d_model = 0;
  int64_t d_ff = 0;
  ActivationKind activation = ActivationKind::relu;
  Scalar dropout = 0;          // after the activation
  bool sigma_reparam = false;  // both Linears' weights (layers/sigma_reparam.h)
};

class FeedForward : public UnaryModule {
 public:
  FeedForward(const FeedForwardOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;  // [.., d_model] -> [.., d_model]

 private:
  ActivationKind activation_;
  std::shared_ptr<Linear> in_, out_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace qkv
