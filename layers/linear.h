// Linear: y = x W + b over the last axis of x, with W stored [in, out] so that the forward
// pass is one matmul (leading axes of x fold into rows, no transposed copy). With
// sigma_reparam, W is used as (gamma / sigma(W)) W (layers/sigma_reparam.h), a submodule
// "sigma" holding gamma and the power-iteration vectors.
#pragma once

#include <memory>

#include "core/generator.h"
#include "layers/init.h"
#include "layers/module.h"
#include "layers/sigma_reparam.h"

namespace qkv {

struct LinearOptions {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;  // the bias always starts at zero
  Init weight_init = Init::xavier_uniform();
  bool sigma_reparam = false;
};

class Linear : public UnaryModule {
 public:
  Linear(const LinearOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;  // [.., in] -> [.., out]

  const LinearOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // [in, out]
  const Tensor& bias() const { return bias_; }      // [out], undefined when options.bias is false
  SigmaReparam* sigma_reparam() { return sigma_.get(); }  // null unless options.sigma_reparam

 private:
  LinearOptions options_;
  Tensor weight_, bias_;
  std::shared_ptr<SigmaReparam> sigma_;
};

}  // namespace qkv
