// What the seed says vanishes, measured: statistics of attention weights and of the
// softmax Jacobian, row by row.
#pragma once

#include <limits>
#include <vector>

#include "core/tensor.h"

namespace qkv {

struct SoftmaxStats {
  double mean_entropy = 0;         // nats; at most ln(N) for N keys
  double mean_max_weight = 0;      // largest weight of a row, averaged over rows
  double saturated_fraction = 0;   // rows whose largest weight exceeds 0.99
  double mean_jacobian_norm = 0;   // Frobenius norm of diag(w) - w w^T, averaged over rows
  double dead_fraction = 0;        // rows whose Jacobian norm is below 1e-3
  // The largest attention logit (score before the softmax) of any row: what grows before
  // training diverges (Wortsman et al. 2023). Only the fused kernel's row statistics carry
  // scores; from weights alone it is NaN.
  double max_logit = std::numeric_limits<double>::quiet_NaN();
  int64_t rows = 0;
};

// weights: softmax outputs [.., N]; each row must sum to one (fully masked rows of zeros
// are skipped).
SoftmaxStats softmax_stats(const Tensor& weights);

// The same per head of attention weights [B, H, Nq, Nk] (or [H, Nq, Nk]): one entry per
// head, over the batch and the queries.
std::vector<SoftmaxStats> softmax_stats_per_head(const Tensor& weights);

// The same from the fused kernel's row statistics [B, H, Nq, kAttentionRowStats]
// (flex_attention, core/ops.h), so that a probe needs no [Nq, Nk] weights: the max weight
// is exp(max score - L), the Jacobian norm comes from sum w^2 and sum w^3.
std::vector<SoftmaxStats> softmax_stats_per_head_from_rows(const Tensor& row_stats);

// ||diag(w) - w w^T||_F for one row, from the closed form
// sum w^2 - 2 sum w^3 + (sum w^2)^2.
double softmax_jacobian_norm(const Scalar* w, int64_t n);

constexpr double kSaturatedWeight = 0.99;
constexpr double kDeadJacobianNorm = 1e-3;

}  // namespace qkv
