// Jacobians and vector-Jacobian products of a function of one tensor, the counterparts of
// torch.autograd.functional.jacobian and .vjp, for experiments that need a whole Jacobian
// (the softmax's diag(w) - w w^T, a layer's sensitivity to its input) instead of looping
// over one-hot backward passes by hand.
#pragma once

#include <functional>
#include <utility>

#include "core/tensor.h"

namespace qkv {

using UnaryTensorFunction = std::function<Tensor(const Tensor&)>;

// J with J[i.., j..] = d f(x)[i..] / d x[j..], shape f(x).shape + x.shape (as PyTorch). One
// reverse pass per element of f(x), each on a fresh evaluation of f (a tape is used once), so
// f must be deterministic. x itself is not modified and needs no requires_grad.
Tensor jacobian(const UnaryTensorFunction& f, const Tensor& x);

// {f(x), v^T J}: the output and the gradient of sum(f(x) * v) with respect to x, in one
// forward and one backward pass. v has the shape of f(x); the product has the shape of x.
std::pair<Tensor, Tensor> vjp(const UnaryTensorFunction& f, const Tensor& x, const Tensor& v);

}  // namespace qkv
