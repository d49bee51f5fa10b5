// Activations a config can choose: relu, or gelu (exact, x * Phi(x)).
#pragma once

#include "core/named_enum.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace qkv {

enum class ActivationKind { relu, gelu };
template <>
struct EnumNames<ActivationKind> {
  static constexpr std::array<std::pair<ActivationKind, std::string_view>, 2> table{
      {{ActivationKind::relu, "relu"}, {ActivationKind::gelu, "gelu"}}};
};

Tensor activate(ActivationKind kind, const Tensor& x);

// The same as a module, for Sequential: Activation(ActivationKind::gelu).
class Activation : public UnaryModule {
 public:
  explicit Activation(ActivationKind kind) : kind_(kind) {}
  Tensor forward(const Tensor& x) override { return activate(kind_, x); }

 private:
  ActivationKind kind_;
};

}  // namespace qkv
