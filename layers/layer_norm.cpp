#include "layers/layer_norm.h"

#include <stdexcept>
#include <string>

#include "core/ops.h"

namespace qkv {

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  if (options.dim <= 0) throw std::invalid_argument("LayerNorm: dim must be positive, got " + std::to_string(options.dim));
  if (!(options.eps > 0)) throw std::invalid_argument("LayerNorm: eps must be positive");
  weight_ = register_parameter("weight", Tensor::ones({options.dim}));
  bias_ = register_parameter("bias", Tensor::zeros({options.dim}));
}

Tensor LayerNorm::forward(const Tensor& x) {
  if (x.dim() < 1 || x.size(-1) != options_.dim)
    throw std::invalid_argument("LayerNorm(dim=" + std::to_string(options_.dim) + "): input shape " +
                                shape_str(x.shape()) + " must end in " + std::to_string(options_.dim));
  return layer_norm(x, weight_, bias_, options_.eps);
}

}  // namespace qkv
