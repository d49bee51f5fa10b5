#include "train/softmax_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/ops.h"

namespace qkv {
namespace {

// Sums the statistics of rows, then averages them.
class StatsAccumulator {
 public:
  void add_row(const Scalar* w, int64_t n) {
    double total = 0, entropy = 0, largest = 0;
    for (int64_t i = 0; i < n; ++i) {
      total += w[i];
      if (w[i] > 0) entropy -= w[i] * std::log(static_cast<double>(w[i]));
      largest = std::max(largest, static_cast<double>(w[i]));
    }
    if (total == 0) return;  // a fully masked row carries no distribution
    add(entropy, largest, softmax_jacobian_norm(w, n));
  }

  // One row from flex_attention's statistics: L, the largest score, the entropy, sum w^2
  // and sum w^3 (core/ops.h, kAttentionRowStats).
  void add_kernel_row(const Scalar* row) {
    if (row[0] == -std::numeric_limits<Scalar>::infinity() || row[3] == 0) return;  // no key seen
    const double s2 = row[3], s3 = row[4];
    // NaN never wins std::max: the first row sets the maximum.
    s_.max_logit = s_.rows == 0 ? row[1] : std::max(s_.max_logit, static_cast<double>(row[1]));
    add(row[2], std::exp(static_cast<double>(row[1]) - row[0]), std::sqrt(std::max(0.0, s2 - 2 * s3 + s2 * s2)));
  }

  void add(double entropy, double largest, double jac) {
    s_.mean_entropy += entropy;
    s_.mean_max_weight += largest;
    s_.saturated_fraction += largest > kSaturatedWeight;
    s_.mean_jacobian_norm += jac;
    s_.dead_fraction += jac < kDeadJacobianNorm;
    ++s_.rows;
  }

  SoftmaxStats mean() const {
    SoftmaxStats s = s_;
    if (s.rows)
      for (double* v : {&s.mean_entropy, &s.mean_max_weight, &s.saturated_fraction, &s.mean_jacobian_norm, &s.dead_fraction})
        *v /= static_cast<double>(s.rows);
    return s;
  }

 private:
  SoftmaxStats s_;
};

}  // namespace

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
  StatsAccumulator acc;
  const int64_t n = weights.size(-1);
  const int64_t rows = n ? weights.numel() / n : 0;
  for (int64_t r = 0; r < rows; ++r) acc.add_row(weights.data() + r * n, n);
  return acc.mean();
}

std::vector<SoftmaxStats> softmax_stats_per_head(const Tensor& weights) {
  if (weights.dim() < 3)
    throw std::invalid_argument("softmax_stats_per_head: weights need shape [.., H, Nq, Nk], got " +
                                shape_str(weights.shape()));
  const int64_t heads = weights.size(-3), nq = weights.size(-2), nk = weights.size(-1);
  const int64_t per_example = heads * nq * nk;
  const int64_t batch = per_example > 0 ? weights.numel() / per_example : 0;
  std::vector<StatsAccumulator> acc(heads);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < nq; ++i) acc[h].add_row(weights.data() + ((b * heads + h) * nq + i) * nk, nk);
  std::vector<SoftmaxStats> out;
  for (const StatsAccumulator& a : acc) out.push_back(a.mean());
  return out;
}

std::vector<SoftmaxStats> softmax_stats_per_head_from_rows(const Tensor& row_stats) {
  if (row_stats.dim() != 4 || row_stats.size(-1) != kAttentionRowStats)
    throw std::invalid_argument("softmax_stats_per_head_from_rows: row statistics need shape [B, H, N, " +
                                std::to_string(kAttentionRowStats) + "], got " + shape_str(row_stats.shape()));
  const int64_t batch = row_stats.size(0), heads = row_stats.size(1), n = row_stats.size(2);
  std::vector<StatsAccumulator> acc(heads);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n; ++i)
        acc[h].add_kernel_row(row_stats.data() + ((b * heads + h) * n + i) * kAttentionRowStats);
  std::vector<SoftmaxStats> out;
  for (const StatsAccumulator& a : acc) out.push_back(a.mean());
  return out;
}

}  // namespace qkv
