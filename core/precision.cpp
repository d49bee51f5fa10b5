#include "core/precision.h"

namespace qkv {
namespace {
thread_local Precision current_precision = Precision::float32;
}  // namespace

Precision matmul_precision() { return current_precision; }

PrecisionScope::PrecisionScope(Precision precision) : previous_(current_precision) { current_precision = precision; }
PrecisionScope::~PrecisionScope() { current_precision = previous_; }

}  // namespace qkv
