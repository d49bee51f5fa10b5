// Absolute positional encodings, added to the token vectors before the first block:
//  - "sinusoidal" (Vaswani et al. 2017), fixed: PE[pos, 2i] = sin(pos / 10000^(2i/d)),
//    PE[pos, 2i+1] = cos(pos / 10000^(2i/d));
//  - "learned": a table [max_len, d_model] ("table"), N(0, 0.02^2) at the start;
//  - "none": the identity (self-attention then cannot tell positions apart).
// A sequence longer than max_len is an error.
#pragma once

#include <string>

#include "core/generator.h"
#include "layers/init.h"
#include "layers/module.h"

namespace qkv {

struct PositionalOptions {
  std::string kind = "sinusoidal";  // "none" | "sinusoidal" | "learned"
  int64_t max_len = 0;
  int64_t d_model = 0;
  Init learned_init = Init::normal(Scalar(0.02));
};

// The fixed table [length, d_model].
Tensor sinusoidal_encoding(int64_t length, int64_t d_model);

class PositionalEncoding : public UnaryModule {
 public:
  PositionalEncoding(const PositionalOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;  // [B, N, d_model] -> x + PE[:N]
  Tensor encoding(int64_t length) const;     // PE[:length]; undefined for "none"
  const std::string& kind() const { return options_.kind; }

 private:
  PositionalOptions options_;
  Tensor table_;  // [max_len, d_model]: the fixed or the learned encodings
};

}  // namespace qkv
