// Reductions. An axis reduction views x as [outer, len, inner] and lets Eigen sum the
// len axis of each [len, inner] block; the backward broadcasts the gradient back.
#include <limits>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
using kernels::normalize_axis;

namespace {
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
  Shape keep_shape;  // x's shape with the axis set to 1
  Shape out_shape;   // with or without the axis, per keepdim
};

AxisView axis_view(const Tensor& x, int64_t axis, bool keepdim, const char* op) {
  const int64_t a = normalize_axis(axis, x.dim(), op);
  AxisView v;
  for (int64_t i = 0; i < a; ++i) v.outer *= x.shape()[i];
  v.len = x.shape()[a];
  for (int64_t i = a + 1; i < x.dim(); ++i) v.inner *= x.shape()[i];
  v.keep_shape = x.shape();
  v.keep_shape[a] = 1;
  v.out_shape = x.shape();
  if (keepdim) v.out_shape[a] = 1;
  else v.out_shape.erase(v.out_shape.begin() + a);
  return v;
}

// The first position of the largest value in a strided run of len values.
int64_t first_largest(const Scalar* p, int64_t len, int64_t stride) {
  int64_t best = 0;
  for (int64_t l = 1; l < len; ++l)
    if (p[l * stride] > p[best * stride]) best = l;
  return best;
}

Tensor sum_axis_kernel(const Tensor& x, const AxisView& v) {
  Tensor out = Tensor::empty(v.out_shape);
  if (v.inner == 1) {
    kernels::MatrixMap(out.data(), v.outer, 1) = kernels::ConstMatrixMap(x.data(), v.outer, v.len).rowwise().sum();
  } else {
    parallel_for(v.outer, v.len * v.inner, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        kernels::MatrixMap(out.data() + o * v.inner, 1, v.inner) =
            kernels::ConstMatrixMap(x.data() + o * v.len * v.inner, v.len, v.inner).colwise().sum();
    });
  }
  return out;
}
}  // namespace

Tensor sum(const Tensor& x) {
  Tensor out = Tensor::scalar(kernels::flat(x).sum());
  return record_op("sum", out, {x}, [in = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{Tensor::full(in, g.item())};
  });
}

Tensor sum(const Tensor& x, int64_t axis, bool keepdim) {
  const AxisView v = axis_view(x, axis, keepdim, "sum");
  return record_op("sum_axis", sum_axis_kernel(x, v), {x}, [v, in = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{expand(reshape(g, v.keep_shape), in)};
  });
}

Tensor mean(const Tensor& x) {
  if (x.numel() == 0) throw std::invalid_argument("mean: empty tensor of shape " + shape_str(x.shape()));
  return mul(sum(x), Scalar(1) / static_cast<Scalar>(x.numel()));
}

Tensor mean(const Tensor& x, int64_t axis, bool keepdim) {
  const int64_t len = x.size(kernels::normalize_axis(axis, x.dim(), "mean"));
  if (len == 0) throw std::invalid_argument("mean: axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
  return mul(sum(x, axis, keepdim), Scalar(1) / static_cast<Scalar>(len));
}

Tensor max(const Tensor& x, int64_t axis, bool keepdim) {
  const AxisView v = axis_view(x, axis, keepdim, "max");
  if (v.len == 0) throw std::invalid_argument("max: axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
  Tensor out = Tensor::empty(v.out_shape);
  auto argmax = std::make_shared<std::vector<int64_t>>(v.outer * v.inner);
  const Scalar* px = x.data();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      const Scalar* p = px + o * v.len * v.inner + i;
      const int64_t best = first_largest(p, v.len, v.inner);
      (*argmax)[o * v.inner + i] = best;
      out.data()[o * v.inner + i] = p[best * v.inner];
    }
  return record_op("max", out, {x}, [v, argmax, in = x.shape()](const Tensor& g) {
    Tensor gx = Tensor::zeros(in);
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i)
        gx.data()[(o * v.len + (*argmax)[o * v.inner + i]) * v.inner + i] = g.data()[o * v.inner + i];
    return std::vector<Tensor>{gx};
  });
}

Indices argmax(const Tensor& x, int64_t axis, bool keepdim) {
  const AxisView v = axis_view(x, axis, keepdim, "argmax");
  if (v.len == 0)
    throw std::invalid_argument("argmax: axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) + " is empty");
  Indices out{.values = std::vector<int64_t>(v.outer * v.inner), .shape = v.out_shape};
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i)
      out.values[o * v.inner + i] = first_largest(x.data() + o * v.len * v.inner + i, v.len, v.inner);
  return out;
}

Tensor var(const Tensor& x, int64_t axis, bool keepdim, bool unbiased) {
  const int64_t n = x.size(kernels::normalize_axis(axis, x.dim(), "var"));
  const int64_t divisor = unbiased ? n - 1 : n;
  if (divisor <= 0)
    throw std::invalid_argument("var: axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) +
                                " has too few elements" + (unbiased ? " for the unbiased estimate" : ""));
  // Composed from differentiable ops, so its backward comes from theirs.
  Tensor centered = sub(x, mean(x, axis, /*keepdim=*/true));
  return mul(sum(mul(centered, centered), axis, keepdim), Scalar(1) / static_cast<Scalar>(divisor));
}

}  // namespace qkv
