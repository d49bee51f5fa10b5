// One attention case computed by tests/reference/attention_reference.py: inputs, weights
// of the four projections (layout [in, out]), and PyTorch's outputs and gradients of
// loss = sum(output * projection).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

struct ReferenceCase {
  int64_t batch, length, d_model, heads;
  bool causal;
  std::vector<double> key_padding;  // [B, N], empty for none
  std::vector<double> x, projection;
  std::vector<std::pair<std::string, std::vector<double>>> params;
  std::vector<double> output, weights, grad_x;
  std::vector<std::pair<std::string, std::vector<double>>> param_grads;
};
