// Heatmaps of attention weights through gnuplot.
#pragma once

#include <string>

#include "core/tensor.h"

namespace qkv {

// weights: [.., H, Nq, Nk] of one input (leading axes of size 1). Writes <stem>.dat per head
// as a matrix and renders one PNG with a panel per head. Returns true when the PNG was made.
bool write_heatmap(const std::string& stem, const Tensor& weights, const std::string& title);

}  // namespace qkv
