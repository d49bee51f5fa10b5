#include "layers/dropout.h"

#include <stdexcept>
#include <string>

#include "core/ops.h"

namespace qkv {

Dropout::Dropout(Scalar p, Generator& seed_source) : p_(p), gen_(seed_source.next_u64()) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument("Dropout: p must be in [0, 1), got " + std::to_string(p));
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, gen_, is_training()); }

}  // namespace qkv
