#include "optim/clip.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "optim/update_kernels.h"

namespace qkv {
using namespace optim_detail;

double clip_grad_norm(const std::vector<Tensor>& params, ClipGradNormOptions options) {
  const double p = options.norm_type;
  if (!(p > 0)) throw std::invalid_argument("clip_grad_norm: norm_type must be positive, got " + std::to_string(p));
  if (!(options.max_norm >= 0))
    throw std::invalid_argument("clip_grad_norm: max_norm must be >= 0, got " + std::to_string(options.max_norm));
  std::vector<Tensor> grads;
  for (const Tensor& param : params)
    if (param.grad().defined()) grads.push_back(param.grad());

  double total = 0;
  for (const Tensor& grad : grads) {
    const auto g = ConstMap(grad.data(), grad.numel()).cast<double>().abs();
    if (std::isinf(p)) total = std::max(total, grad.numel() ? g.maxCoeff() : 0.0);
    else if (p == 2) total += g.square().sum();
    else total += g.pow(p).sum();
  }
  if (!std::isinf(p)) total = p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);

  const double coef = options.max_norm / (total + 1e-6);
  // A NaN or infinite norm gives a NaN or zero coefficient, which is applied as PyTorch does.
  if (!(coef >= 1))
    for (Tensor& grad : grads) Map(grad.data(), grad.numel()) *= static_cast<Scalar>(coef);
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0))
    throw std::invalid_argument("clip_grad_value: clip_value must be >= 0, got " + std::to_string(clip_value));
  const Scalar c = static_cast<Scalar>(clip_value);
  for (const Tensor& param : params) {
    Tensor grad = param.grad();
    if (grad.defined()) Map(grad.data(), grad.numel()) = Map(grad.data(), grad.numel()).cwiseMax(-c).cwiseMin(c);
  }
}

}  // namespace qkv
