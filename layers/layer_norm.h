// LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * weight + bias, with the
// population variance (divide by n), as Ba et al. 2016 and PyTorch; the op layer_norm of
// core/ops.h, fused forward and backward.
#pragma once

#include "layers/module.h"

namespace qkv {

struct LayerNormOptions {
  int64_t dim = 0;
  Scalar eps = Scalar(1e-5);
};

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(const LayerNormOptions& options);  // weight starts at 1, bias at 0
  Tensor forward(const Tensor& x) override;             // [.., dim] -> [.., dim]
  const Tensor& weight() const { return weight_; }      // "weight" [dim]
  const Tensor& bias() const { return bias_; }          // "bias" [dim]

 private:
  LayerNormOptions options_;
  Tensor weight_, bias_;
};

}  // namespace qkv
