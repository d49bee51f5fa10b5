#include "layers/linear.h"

#include <stdexcept>
#include <string>

#include "core/ops.h"

namespace qkv {

Linear::Linear(const LinearOptions& options, Generator& gen) : options_(options) {
  if (options.in_features <= 0 || options.out_features <= 0)
    throw std::invalid_argument("Linear: in_features and out_features must be positive, got " +
                                std::to_string(options.in_features) + " and " + std::to_string(options.out_features));
  weight_ = register_parameter("weight", options.weight_init.make({options.in_features, options.out_features}, gen));
  if (options.bias) bias_ = register_parameter("bias", Tensor::zeros({options.out_features}));
  if (options.sigma_reparam) sigma_ = register_module("sigma", std::make_shared<SigmaReparam>(weight_));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() < 1 || x.size(-1) != options_.in_features)
    throw std::invalid_argument("Linear(in=" + std::to_string(options_.in_features) + ", out=" +
                                std::to_string(options_.out_features) + "): input shape " + shape_str(x.shape()) +
                                " must end in " + std::to_string(options_.in_features));
  return linear(x, sigma_ ? sigma_->reparametrized() : weight_, bias_);
}

}  // namespace qkv
