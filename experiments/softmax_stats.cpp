#include "experiments/softmax_stats.h"

#include <algorithm>
#include <cmath>

namespace qkv {

double softmax_jacobian_norm(const Scalar* w, int64_t n) {
  double s2 = 0, s3 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = w[i];
    s2 += v * v;
    s3 += v * v * v;
  }
  return std::sqrt(std::max(0.0, s2 - 2 * s3 + s2 * s2));
}

SoftmaxStats softmax_stats(const Tensor& weights) {
  SoftmaxStats s;
  const int64_t n = weights.size(-1);
  const int64_t rows = n ? weights.numel() / n : 0;
  for (int64_t r = 0; r < rows; ++r) {
    const Scalar* w = weights.data() + r * n;
    double total = 0, entropy = 0, largest = 0;
    for (int64_t i = 0; i < n; ++i) {
      total += w[i];
      if (w[i] > 0) entropy -= w[i] * std::log(static_cast<double>(w[i]));
      largest = std::max(largest, static_cast<double>(w[i]));
    }
    if (total == 0) continue;  // a fully masked row carries no distribution
    const double jac = softmax_jacobian_norm(w, n);
    s.mean_entropy += entropy;
    s.mean_max_weight += largest;
    s.saturated_fraction += largest > kSaturatedWeight;
    s.mean_jacobian_norm += jac;
    s.dead_fraction += jac < kDeadJacobianNorm;
    ++s.rows;
  }
  if (s.rows) {
    for (double* v : {&s.mean_entropy, &s.mean_max_weight, &s.saturated_fraction, &s.mean_jacobian_norm, &s.dead_fraction})
      *v /= static_cast<double>(s.rows);
  }
  return s;
}

}  // namespace qkv
