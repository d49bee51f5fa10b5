// Losses. Cross-entropy fuses log-softmax with the target pick, so its backward is the
// familiar softmax(x) - onehot(t), with no log of a tiny probability in between.
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {

Tensor cross_entropy(const Tensor& logits, const Indices& targets, int64_t ignore_index) {
  if (logits.dim() < 1) throw std::invalid_argument("cross_entropy: logits need rank >= 1");
  const Shape expected(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape != expected || static_cast<int64_t>(targets.values.size()) != shape_numel(expected))
    throw std::invalid_argument("cross_entropy: logits " + shape_str(logits.shape()) + " need targets of shape " +
                                shape_str(expected) + ", got " + shape_str(targets.shape));
  const int64_t classes = logits.size(-1);
  const int64_t rows = static_cast<int64_t>(targets.values.size());
  int64_t counted = 0;
  for (int64_t t : targets.values) {
    if (t == ignore_index) continue;
    if (t < 0 || t >= classes)
      throw std::out_of_range("cross_entropy: target " + std::to_string(t) + " out of range for " +
                              std::to_string(classes) + " classes");
    ++counted;
  }
  // Probabilities are kept for the backward; the loss sums -log p[target].
  Tensor probs = softmax(logits.detach());
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets.values[r];
    if (t == ignore_index) continue;
    kernels::ConstArrayMap x(logits.data() + r * classes, classes);
    const Scalar m = x.maxCoeff();
    total += (m + std::log((x - m).exp().sum())) - x[t];
  }
  // With every target ignored there is nothing to average: the loss is 0, as its gradient.
  Tensor out = Tensor::scalar(counted ? static_cast<Scalar>(total / counted) : Scalar(0));
  return record_op("cross_entropy", out, {logits},
                   [probs, ids = targets.values, ignore_index, counted, classes](const Tensor& g) {
                     // dL/dx_r = (softmax(x_r) - onehot(t_r)) / counted for each counted row.
                     Tensor gx = probs.clone();
                     const Scalar scale = counted ? g.item() / static_cast<Scalar>(counted) : Scalar(0);
                     for (size_t r = 0; r < ids.size(); ++r) {
                       kernels::ArrayMap row(gx.data() + r * classes, classes);
                       if (ids[r] == ignore_index) {
                         row.setZero();
                         continue;
                       }
                       row[ids[r]] -= 1;
                       row *= scale;
                     }
                     return std::vector<Tensor>{gx};
                   });
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  kernels::require_same_shape(prediction, target, "mse_loss");
  Tensor diff = sub(prediction, target);
  return mean(mul(diff, diff));
}

}  // namespace qkv
