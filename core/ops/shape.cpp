// Shape ops. Tensors are always contiguous, so reshape, squeeze and unsqueeze are views
// over the same storage; permute, transpose, concat, slice and expand copy.
#include <numeric>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
using kernels::normalize_axis;

namespace {
Tensor view(const Tensor& x, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = x.impl()->offset;
  impl->shape = shape;
  impl->numel = x.numel();
  return Tensor(std::move(impl));
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}
}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1 && infer < 0) infer = static_cast<int64_t>(i);
    else if (target[i] < 0)
      throw std::invalid_argument("reshape: bad target shape " + shape_str(shape));
    else if (__builtin_mul_overflow(known, target[i], &known))
      throw std::invalid_argument("reshape: target shape " + shape_str(shape) + " has more elements than an int64 counts");
  }
  if (infer >= 0 && known > 0 && x.numel() % known == 0) target[infer] = x.numel() / known;
  if ((infer >= 0 && target[infer] < 0) || shape_numel(target) != x.numel())
    throw std::invalid_argument("reshape: cannot view shape " + shape_str(x.shape()) + " (" +
                                std::to_string(x.numel()) + " elements) as " + shape_str(shape));
  return record_op("reshape", view(x, target), {x}, [in = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{reshape(g, in)};
  });
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  Shape s = x.shape();
  s.insert(s.begin() + normalize_axis(axis, x.dim() + 1, "unsqueeze"), 1);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, int64_t axis) {
  const int64_t a = normalize_axis(axis, x.dim(), "squeeze");
  if (x.shape()[a] != 1)
    throw std::invalid_argument("squeeze: axis " + std::to_string(axis) + " of shape " +
                                shape_str(x.shape()) + " has size " + std::to_string(x.shape()[a]) + ", not 1");
  Shape s = x.shape();
  s.erase(s.begin() + a);
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& order) {
  const int64_t rank = x.dim();
  std::vector<int64_t> axes(order.size());
  std::vector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(order.size()) == rank;
  for (size_t i = 0; valid && i < order.size(); ++i) {
    axes[i] = order[i] < 0 ? order[i] + rank : order[i];
    valid = axes[i] >= 0 && axes[i] < rank && !seen[axes[i]];
    if (valid) seen[axes[i]] = true;
  }
  if (!valid) throw std::invalid_argument("permute: order " + shape_str(order) + " is not a permutation of the axes of " + shape_str(x.shape()));

  Shape out_shape(rank);
  for (int64_t i = 0; i < rank; ++i) out_shape[i] = x.shape()[axes[i]];
  Tensor out = Tensor::empty(out_shape);
  const auto in_strides = strides_of(x.shape());
  const Scalar* src = x.data();
  Scalar* dst = out.data();
  const bool swap_last_two = rank >= 2 && axes[rank - 1] == rank - 2 && axes[rank - 2] == rank - 1 &&
                             [&] { for (int64_t i = 0; i < rank - 2; ++i) if (axes[i] != i) return false; return true; }();
  if (swap_last_two) {
    // Batched matrix transpose: Eigen per matrix.
    const int64_t r = x.size(-2), c = x.size(-1), batches = x.numel() / std::max<int64_t>(r * c, 1);
    parallel_for(batches, r * c, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        kernels::MatrixMap(dst + t * r * c, c, r) = kernels::ConstMatrixMap(src + t * r * c, r, c).transpose();
    });
  } else {
    // General case: walk the output in order; the innermost output axis reads a strided row.
    const int64_t inner = rank ? out_shape[rank - 1] : 1;
    const int64_t inner_stride = rank ? in_strides[axes[rank - 1]] : 1;
    const int64_t rows = inner ? out.numel() / inner : 0;
    parallel_for(rows, inner, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        int64_t rem = row, off = 0;
        for (int64_t i = rank - 2; i >= 0; --i) {
          off += (rem % out_shape[i]) * in_strides[axes[i]];
          rem /= out_shape[i];
        }
        Scalar* d = dst + row * inner;
        for (int64_t j = 0; j < inner; ++j) d[j] = src[off + j * inner_stride];
      }
    });
  }
  std::vector<int64_t> inverse(rank);
  for (int64_t i = 0; i < rank; ++i) inverse[axes[i]] = i;
  return record_op("permute", out, {x}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  std::vector<int64_t> order(x.dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_axis(axis0, x.dim(), "transpose")], order[normalize_axis(axis1, x.dim(), "transpose")]);
  return permute(x, order);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw std::invalid_argument("concat: no tensors given");
  const int64_t a = normalize_axis(axis, xs[0].dim(), "concat");
  Shape out_shape = xs[0].shape();
  out_shape[a] = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) {
    Shape s = x.shape();
    if (s.size() != out_shape.size() ||
        !std::equal(s.begin(), s.begin() + a, out_shape.begin()) ||
        !std::equal(s.begin() + a + 1, s.end(), out_shape.begin() + a + 1))
      throw std::invalid_argument("concat: shapes " + shape_str(xs[0].shape()) + " and " + shape_str(s) +
                                  " differ outside axis " + std::to_string(axis));
    sizes.push_back(s[a]);
    out_shape[a] += s[a];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < a; ++i) outer *= out_shape[i];
  for (size_t i = a + 1; i < out_shape.size(); ++i) inner *= out_shape[i];
  Tensor out = Tensor::empty(out_shape);
  int64_t column = 0;
  for (const Tensor& x : xs) {
    const int64_t block = x.shape()[a] * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(x.data() + o * block, block, out.data() + o * out_shape[a] * inner + column);
    column += block;
  }
  return record_op("concat", out, xs, [sizes, a](const Tensor& g) { return split(g, sizes, a); });
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end) {
  const int64_t a = normalize_axis(axis, x.dim(), "slice");
  const int64_t len = x.shape()[a];
  if (start < 0 || end > len || start > end)
    throw std::out_of_range("slice: range [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") out of bounds for axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[a] = end - start;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < a; ++i) outer *= out_shape[i];
  for (size_t i = a + 1; i < out_shape.size(); ++i) inner *= out_shape[i];
  Tensor out = Tensor::empty(out_shape);
  const int64_t block = (end - start) * inner;
  for (int64_t o = 0; o < outer; ++o)
    std::copy_n(x.data() + o * len * inner + start * inner, block, out.data() + o * block);
  return record_op("slice", out, {x}, [in = x.shape(), a, start, end](const Tensor& g) {
    // Scatter the gradient back into the sliced window of a zero tensor.
    std::vector<Tensor> parts;
    Shape before = in, after = in;
    before[a] = start;
    after[a] = in[a] - end;
    if (start > 0) parts.push_back(Tensor::zeros(before));
    parts.push_back(g);
    if (end < in[a]) parts.push_back(Tensor::zeros(after));
    return std::vector<Tensor>{parts.size() == 1 ? g : concat(parts, a)};
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  const int64_t a = normalize_axis(axis, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw std::invalid_argument("split: negative size in " + shape_str(sizes));
    total += s;
  }
  if (total != x.shape()[a])
    throw std::invalid_argument("split: sizes " + shape_str(sizes) + " add up to " + std::to_string(total) +
                                ", but axis " + std::to_string(axis) + " of shape " + shape_str(x.shape()) +
                                " has size " + std::to_string(x.shape()[a]));
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(slice(x, a, start, start + s));
    start += s;
  }
  return parts;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  if (broadcast_shapes(x.shape(), shape, "expand") != shape)
    throw std::invalid_argument("expand: shape " + shape_str(x.shape()) + " cannot expand to " + shape_str(shape));
  Tensor out = kernels::broadcast_binary(x, Tensor::zeros(shape), "expand",
                                         [](const auto& v, const auto&) { return v; });
  return record_op("expand", out, {x}, [in = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, in)};
  });
}

}  // namespace qkv
