// Building blocks shared by the op families: Eigen maps over tensor buffers, elementwise
// kernels that take an Eigen array expression, and the broadcasting loop. Internal.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace qkv::kernels {

using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using ArrayMap = Eigen::Map<Array>;
using ConstArrayMap = Eigen::Map<const Array>;
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;

inline constexpr Scalar kNegInf = -std::numeric_limits<Scalar>::infinity();

inline ArrayMap flat(Tensor& t) { return ArrayMap(t.data(), t.numel()); }
inline ConstArrayMap flat(const Tensor& t) { return ConstArrayMap(t.data(), t.numel()); }

// What a backward closure keeps of a tensor: its data, without its autograd state (which
// would tie a record to itself when the tensor is the record's own output).
inline Tensor saved(const Tensor& t) { return t.detach(); }

inline int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
    throw std::out_of_range(std::string(op) + ": axis " + std::to_string(axis) +
                            " out of range for a tensor of rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

inline void require_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(op) + ": shapes " + shape_str(a.shape()) + " and " +
                                shape_str(b.shape()) + " differ");
}

// out = f(x...) over same-shape tensors; f maps Eigen array segments to an expression.
// The threads take whole units of kMapUnit elements: each part then starts on a vector
// (and, the buffers being 64-byte aligned, an aligned) boundary, so an element goes through
// Eigen's vector code or its scalar tail by its place in the tensor alone, never by where a
// thread's part begins. The two can differ in the last bit (exp, log, sqrt), and the
// result would otherwise depend on the thread count.
inline constexpr int64_t kMapUnit = 64;
template <class F, class... Ts>
Tensor map_elements(F f, const Tensor& first, const Ts&... rest) {
  Tensor out = Tensor::empty(first.shape());
  Scalar* o = out.data();
  const int64_t numel = out.numel();
  parallel_for((numel + kMapUnit - 1) / kMapUnit, kMapUnit, [&](int64_t first_unit, int64_t end_unit) {
    const int64_t begin = first_unit * kMapUnit, end = std::min(numel, end_unit * kMapUnit);
    const int64_t n = end - begin;
    ArrayMap(o + begin, n) = f(ConstArrayMap(first.data() + begin, n),
                               ConstArrayMap(rest.data() + begin, n)...);
  });
  return out;
}

// out = f(a, b) with NumPy broadcasting. The output is walked in blocks over the longest
// suffix of axes on which each operand is either contiguous or constant, so the inner
// work is one Eigen expression per block.
template <class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (a.shape() == b.shape()) return map_elements(f, a, b);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  const int64_t rank = static_cast<int64_t>(out_shape.size());
  Shape sa(rank, 1), sb(rank, 1);
  std::copy(a.shape().begin(), a.shape().end(), sa.end() - a.dim());
  std::copy(b.shape().begin(), b.shape().end(), sb.end() - b.dim());

  // Mode of the inner block: both contiguous, or one of them constant over it.
  enum { kBoth, kAConst, kBConst } mode = kBoth;
  int64_t k = rank;
  auto fits = [&](int64_t i) {
    switch (mode) {
      case kBoth: return sa[i] == out_shape[i] && sb[i] == out_shape[i];
      case kAConst: return sa[i] == 1 && sb[i] == out_shape[i];
      default: return sa[i] == out_shape[i] && sb[i] == 1;
    }
  };
  if (rank > 0 && !fits(rank - 1)) mode = sa[rank - 1] == 1 ? kAConst : kBConst;
  while (k > 0 && fits(k - 1)) --k;
  int64_t inner = 1, outer = 1;
  for (int64_t i = k; i < rank; ++i) inner *= out_shape[i];
  for (int64_t i = 0; i < k; ++i) outer *= out_shape[i];

  // Element strides of a and b over the outer axes (0 where broadcast).
  std::vector<int64_t> stride_a(rank, 0), stride_b(rank, 0);
  for (int64_t i = rank - 1, ra = 1, rb = 1; i >= 0; --i) {
    stride_a[i] = sa[i] == 1 ? 0 : ra;
    stride_b[i] = sb[i] == 1 ? 0 : rb;
    ra *= sa[i];
    rb *= sb[i];
  }
  Tensor out = Tensor::empty(out_shape);
  const Scalar* pa = a.data();
  const Scalar* pb = b.data();
  Scalar* po = out.data();
  parallel_for(outer, inner, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      int64_t rem = o, off_a = 0, off_b = 0;
      for (int64_t i = k - 1; i >= 0; --i) {
        const int64_t idx = rem % out_shape[i];
        rem /= out_shape[i];
        off_a += idx * stride_a[i];
        off_b += idx * stride_b[i];
      }
      ArrayMap dst(po + o * inner, inner);
      if (mode == kBoth)
        dst = f(ConstArrayMap(pa + off_a, inner), ConstArrayMap(pb + off_b, inner));
      else if (mode == kAConst)
        dst = f(Array::Constant(inner, pa[off_a]), ConstArrayMap(pb + off_b, inner));
      else
        dst = f(ConstArrayMap(pa + off_a, inner), Array::Constant(inner, pb[off_b]));
    }
  });
  return out;
}

}  // namespace qkv::kernels
