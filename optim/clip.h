// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_. Parameters
// whose gradient is undefined are skipped.
#pragma once

#include <limits>
#include <vector>

#include "core/tensor.h"

namespace qkv {

struct ClipGradNormOptions {
  double max_norm = 1.0;
  double norm_type = 2.0;  // p of the p-norm; infinity for the largest absolute value
};

// Scales all gradients together by max_norm / (total_norm + 1e-6) when that is below 1,
// where total_norm is the norm of all gradients seen as one vector. Returns total_norm
// before clipping (computed in double).
double clip_grad_norm(const std::vector<Tensor>& params, ClipGradNormOptions options);

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

}  // namespace qkv
