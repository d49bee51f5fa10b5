#include "layers/activation.h"

#include <stdexcept>

#include "core/ops.h"

namespace qkv {

Tensor activate(ActivationKind kind, const Tensor& x) {
  switch (kind) {
    case ActivationKind::relu: return relu(x);
    case ActivationKind::gelu: return gelu(x);
  }
  throw std::invalid_argument("activate: a value outside ActivationKind");
}

}  // namespace qkv
