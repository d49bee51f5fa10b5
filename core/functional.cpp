#include "core/functional.h"

#include <algorithm>
#include <stdexcept>

#include "core/autograd.h"
#include "core/ops.h"

namespace qkv {
namespace {

// A leaf copy of x that records, so the caller's x keeps its own history and gradient.
Tensor fresh_leaf(const Tensor& x) { return x.detach().clone().requires_grad_(true); }

Tensor gradient_or_zeros(const Tensor& leaf) { return leaf.grad().defined() ? leaf.grad() : Tensor::zeros(leaf.shape()); }

}  // namespace

std::pair<Tensor, Tensor> vjp(const UnaryTensorFunction& f, const Tensor& x, const Tensor& v) {
  Tensor leaf = fresh_leaf(x);
  const Tensor out = f(leaf);
  if (out.shape() != v.shape())
    throw std::invalid_argument("vjp: v " + shape_str(v.shape()) + " must have the shape of f(x) " +
                                shape_str(out.shape()));
  // f may not depend on x at all (then nothing records and v^T J is zero).
  if (out.requires_grad()) run_backward(out, v.detach());
  return {out.detach(), gradient_or_zeros(leaf)};
}

Tensor jacobian(const UnaryTensorFunction& f, const Tensor& x) {
  Shape out_shape;
  {
    NoGradGuard no_grad;
    out_shape = f(x.detach()).shape();
  }
  int64_t rows = 1;
  for (int64_t s : out_shape) rows *= s;
  Shape shape = out_shape;
  shape.insert(shape.end(), x.shape().begin(), x.shape().end());
  Tensor j = Tensor::zeros(shape);
  Tensor one_hot = Tensor::zeros(out_shape);
  for (int64_t i = 0; i < rows; ++i) {
    // Row i of J is e_i^T J: the vector-Jacobian product with the i-th unit vector.
    one_hot.data()[i] = 1;
    const Tensor row = vjp(f, x, one_hot).second;
    one_hot.data()[i] = 0;
    std::copy(row.data(), row.data() + row.numel(), j.data() + i * x.numel());
  }
  return j;
}

}  // namespace qkv
