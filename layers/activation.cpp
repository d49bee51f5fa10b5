#include "layers/activation.h"

#include <stdexcept>

#include "core/ops.h"

namespace qkv {

void check_activation(const std::string& name) {
  if (name != "relu" && name != "gelu")
    throw std::invalid_argument("unknown activation '" + name + "'; valid: relu, gelu");
}

Tensor activate(const std::string& name, const Tensor& x) {
  if (name == "relu") return relu(x);
  if (name == "gelu") return gelu(x);
  check_activation(name);
  return x;
}

Activation::Activation(std::string name) : name_(std::move(name)) { check_activation(name_); }

}  // namespace qkv
