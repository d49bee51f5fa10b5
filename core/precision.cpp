#include "core/precision.h"

#include <stdexcept>

namespace qkv {
namespace {
thread_local Precision current_precision = Precision::float32;
}  // namespace

Precision matmul_precision() { return current_precision; }

PrecisionScope::PrecisionScope(Precision precision) : previous_(current_precision) { current_precision = precision; }
PrecisionScope::~PrecisionScope() { current_precision = previous_; }

const char* precision_name(Precision precision) { return precision == Precision::bf16 ? "bf16" : "float32"; }

Precision parse_precision(const std::string& name) {
  if (name == "float32") return Precision::float32;
  if (name == "bf16") return Precision::bf16;
  throw std::invalid_argument("precision: expected \"float32\" or \"bf16\", got \"" + name + "\"");
}

}  // namespace qkv
