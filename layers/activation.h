// Activations by name, so configs can choose them: "relu" or "gelu" (exact, x * Phi(x)).
#pragma once

#include <string>

#include "core/tensor.h"
#include "layers/module.h"

namespace qkv {

// invalid_argument listing the valid names when `name` is not one of them.
void check_activation(const std::string& name);
Tensor activate(const std::string& name, const Tensor& x);

// The same as a module, for Sequential: Activation("gelu").
class Activation : public UnaryModule {
 public:
  explicit Activation(std::string name);
  Tensor forward(const Tensor& x) override { return activate(name_, x); }

 private:
  std::string name_;
};

}  // namespace qkv
