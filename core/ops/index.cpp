// Index-driven ops: embedding lookup (gather of rows, scatter-add backward), masking and
// dropout.
#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {

Indices Indices::from(std::vector<int64_t> values, Shape shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("Indices::from: " + std::to_string(values.size()) +
                                " indices do not fill shape " + shape_str(shape));
  return Indices{std::move(values), std::move(shape)};
}

Tensor embedding(const Tensor& table, const Indices& indices) {
  if (table.dim() != 2)
    throw std::invalid_argument("embedding: the table must be [rows, dim], got " + shape_str(table.shape()));
  if (static_cast<int64_t>(indices.values.size()) != shape_numel(indices.shape))
    throw std::invalid_argument("embedding: " + std::to_string(indices.values.size()) +
                                " indices for index shape " + shape_str(indices.shape));
  const int64_t rows = table.size(0), dim = table.size(1);
  for (int64_t idx : indices.values)
    if (idx < 0 || idx >= rows)
      throw std::out_of_range("embedding: index " + std::to_string(idx) + " out of range for a table of " +
                              std::to_string(rows) + " rows (shape " + shape_str(table.shape()) + ")");
  Shape out_shape = indices.shape;
  out_shape.push_back(dim);
  Tensor out = Tensor::empty(out_shape);
  for (size_t i = 0; i < indices.values.size(); ++i)
    std::copy_n(table.data() + indices.values[i] * dim, dim, out.data() + i * dim);
  return record_op("embedding", out, {table}, [ids = indices.values, table_shape = table.shape(), dim](const Tensor& g) {
    Tensor gt = Tensor::zeros(table_shape);
    for (size_t i = 0; i < ids.size(); ++i)
      kernels::ArrayMap(gt.data() + ids[i] * dim, dim) += kernels::ConstArrayMap(g.data() + i * dim, dim);
    return std::vector<Tensor>{gt};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  Tensor out = kernels::broadcast_binary(x, mask, "masked_fill", [value](const auto& v, const auto& m) {
    return (m != Scalar(0)).select(value, v);
  });
  if (out.shape() != x.shape())
    throw std::invalid_argument("masked_fill: mask shape " + shape_str(mask.shape()) +
                                " does not broadcast to the input shape " + shape_str(x.shape()));
  return record_op("masked_fill", out, {x, mask}, [mask = kernels::saved(mask)](const Tensor& g) {
    return std::vector<Tensor>{masked_fill(g, mask, Scalar(0)), Tensor()};
  });
}

Tensor dropout(const Tensor& x, Scalar p, Generator& gen, bool training) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument("dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0) return x;
  const Scalar scale = Scalar(1) / (1 - p);
  Tensor keep = Tensor::empty(x.shape());
  for (int64_t i = 0; i < keep.numel(); ++i) keep.data()[i] = gen.uniform() >= p ? scale : Scalar(0);
  Tensor out = kernels::map_elements([](const auto& v, const auto& k) { return v * k; }, x, keep);
  return record_op("dropout", out, {x}, [keep](const Tensor& g) { return std::vector<Tensor>{mul(g, keep)}; });
}

}  // namespace qkv
