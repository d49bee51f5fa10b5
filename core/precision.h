// The precision of matrix products, chosen per thread and per scope, like torch.autocast:
//   { qkv::PrecisionScope bf16(qkv::Precision::bf16); loss = f(x); loss.backward(); }
// In bf16 mode the float build's matrix products (matmul, linear, and their backward)
// round their operands to bfloat16 and accumulate in float32; every other op, the stored
// tensors, the optimiser and the loss stay float32. The double build ignores the switch.
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "core/named_enum.h"

namespace qkv {

enum class Precision { float32, bf16 };
template <>
struct EnumNames<Precision> {
  static constexpr std::array<std::pair<Precision, std::string_view>, 2> table{
      {{Precision::float32, "float32"}, {Precision::bf16, "bf16"}}};
};

// The precision this thread's matrix products use now: float32 unless a scope says bf16.
Precision matmul_precision();

// Sets this thread's precision until the scope ends, then restores the one before it.
// Thread-local, so two threads may train at different precisions side by side; a product
// reads it on the thread that calls it and hands it to its worker threads.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

}  // namespace qkv
