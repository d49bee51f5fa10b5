// Activations by name, so configs can choose them: "relu" or "gelu" (exact, x * Phi(x)).
#pragma once

#include <string>

#include "core/tensor.h"

namespace qkv {

// invalid_argument listing the valid names when `name` is not one of them.
void check_activation(const std::string& name);
Tensor activate(const std::string& name, const Tensor& x);

}  // namespace qkv
