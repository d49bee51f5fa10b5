// The random inputs of the gradient tests: one seeded generator for the test program, so
// that a test case run on its own (as ctest runs each) draws the same values every time.
#pragma once

#include "qkv.h"

inline qkv::Generator& gen() {
  static qkv::Generator g(2024);
  return g;
}
inline qkv::Tensor randn(const qkv::Shape& s) { return qkv::Tensor::randn(s, gen()); }
