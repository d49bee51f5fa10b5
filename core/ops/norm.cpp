// Layer normalisation over the last axis as one op: y = (x - mean) * rstd * gain + bias,
// rstd = 1 / sqrt(var + eps) with the population variance (Ba et al. 2016; PyTorch's
// LayerNorm). One pass per row forward and one backward, where the composition of mean,
// var, sub, div and sqrt makes a dozen tensors. The tests compare it with that composition.
#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
using kernels::ConstArrayMap;
using kernels::ArrayMap;

Tensor layer_norm(const Tensor& x, const Tensor& gain, const Tensor& bias, Scalar eps) {
  if (x.dim() < 1 || gain.shape() != Shape{x.size(-1)} || bias.shape() != Shape{x.size(-1)})
    throw std::invalid_argument("layer_norm: gain " + shape_str(gain.shape()) + " and bias " + shape_str(bias.shape()) +
                                " must be [d] for the last axis of x " + shape_str(x.shape()));
  if (!(eps > 0)) throw std::invalid_argument("layer_norm: eps must be positive, got " + std::to_string(eps));
  const int64_t d = x.size(-1), rows = d ? x.numel() / d : 0;
  Tensor out = Tensor::empty(x.shape());
  Tensor xhat = Tensor::empty(x.shape());  // (x - mean) * rstd, what the backward needs
  Tensor rstd = Tensor::empty({rows});
  const ConstArrayMap g(gain.data(), d), b(bias.data(), d);
  parallel_for(rows, 8 * d, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const ConstArrayMap in(x.data() + r * d, d);
      ArrayMap n(xhat.data() + r * d, d);
      const Scalar mean = in.mean();
      n = in - mean;
      const Scalar inv = Scalar(1) / std::sqrt(n.square().mean() + eps);
      n *= inv;
      rstd.data()[r] = inv;
      ArrayMap(out.data() + r * d, d) = n * g + b;
    }
  });
  return record_op("layer_norm", out, {x, gain, bias}, [xhat, rstd, gain = kernels::saved(gain), d, rows](const Tensor& gy) {
    // With n = xhat and dn = gy * gain (the gradient reaching the normalised row):
    // dx = rstd * (dn - mean(dn) - n * mean(dn * n)); dgain = sum over rows gy * n; dbias = sum gy.
    Tensor gx = Tensor::empty(xhat.shape());
    const ConstArrayMap g(gain.data(), d);
    // dgain and dbias sum over rows: each block of rows sums into a partial of its own, and
    // the partials are added in block order, so the threads do not change the result.
    constexpr int64_t kRowBlock = 64;
    const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
    kernels::Array partial_gain(blocks * d), partial_bias(blocks * d);
    parallel_for(blocks, kRowBlock * 8 * d, [&](int64_t begin, int64_t end) {
      kernels::Array dn(d);
      for (int64_t block = begin; block < end; ++block) {
        ArrayMap block_gain(partial_gain.data() + block * d, d), block_bias(partial_bias.data() + block * d, d);
        block_gain.setZero();
        block_bias.setZero();
        for (int64_t r = block * kRowBlock; r < std::min(rows, (block + 1) * kRowBlock); ++r) {
          const ConstArrayMap n(xhat.data() + r * d, d), dy(gy.data() + r * d, d);
          dn = dy * g;
          ArrayMap(gx.data() + r * d, d) = rstd.data()[r] * (dn - dn.mean() - n * (dn * n).mean());
          block_gain += dy * n;
          block_bias += dy;
        }
      }
    });
    Tensor ggain = Tensor::zeros({d}), gbias = Tensor::zeros({d});
    ArrayMap sum_gain(ggain.data(), d), sum_bias(gbias.data(), d);
    for (int64_t block = 0; block < blocks; ++block) {
      sum_gain += ConstArrayMap(partial_gain.data() + block * d, d);
      sum_bias += ConstArrayMap(partial_bias.data() + block * d, d);
    }
    return std::vector<Tensor>{gx, ggain, gbias};
  });
}

}  // namespace qkv
