// Matmul and linear, over one product routine: C = op(A) op(B) on raw row-major buffers.
// kernels::gemm_product chooses between direct_gemm, which reads the operands in place, and
// packed_gemm, which packs them first, from the CPU's cache sizes; in bf16 precision
// (core/precision.h) it hands them to bf16_gemm. The precision is read on the thread that
// calls the op, forward or backward, and passed to the threads that run the products.
#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/gemm_dispatch.h"
#include "core/ops/kernels.h"

namespace qkv {
namespace {

std::string operand_str(const Tensor& t, bool transposed) {
  return shape_str(t.shape()) + (transposed ? "^T" : "");
}

// A matrix stored row-major as [rows, cols], used as itself or as its transpose.
struct Operand {
  const Scalar* data;
  int64_t rows, cols;
  bool transposed;
  int64_t used_rows() const { return transposed ? cols : rows; }
  int64_t used_cols() const { return transposed ? rows : cols; }
  kernels::StridedMatrix strided() const { return kernels::StridedMatrix::row_major(data, cols, transposed); }
};

// C [m, n] = alpha op(A) op(B), plus `bias` [n] on every row when given, by the kernel
// that the CPU's caches call for (core/ops/gemm_dispatch.h).
void matrix_product(const Operand& a, const Operand& b, Scalar alpha, Scalar* c, const Scalar* bias,
                    Precision precision) {
  kernels::gemm_product(a.used_rows(), b.used_cols(), a.used_cols(), alpha, a.strided(), b.strided(), c, bias,
                        precision);
}
}  // namespace

Precision product_precision(int64_t m, int64_t n, int64_t k) {
  return kernels::product_runs_in(m, n, k, matmul_precision());
}

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions opt) {
  if (a.dim() < 2 || b.dim() < 2)
    throw std::invalid_argument("matmul: operands need rank >= 2, got " + operand_str(a, opt.transpose_a) +
                                " and " + operand_str(b, opt.transpose_b));
  const int64_t a_rows = a.size(-2), a_cols = a.size(-1);
  const int64_t b_rows = b.size(-2), b_cols = b.size(-1);
  const int64_t n = opt.transpose_a ? a_cols : a_rows;
  const int64_t k = opt.transpose_a ? a_rows : a_cols;
  const int64_t kb = opt.transpose_b ? b_cols : b_rows;
  const int64_t m = opt.transpose_b ? b_rows : b_cols;
  if (k != kb)
    throw std::invalid_argument("matmul: inner dimensions differ: " + operand_str(a, opt.transpose_a) +
                                " x " + operand_str(b, opt.transpose_b));
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape out_shape;
  try {
    out_shape = broadcast_shapes(batch_a, batch_b, "matmul");
  } catch (const std::invalid_argument&) {  // the message names both operands, built only when needed
    throw std::invalid_argument("matmul: the batch axes of " + operand_str(a, opt.transpose_a) + " and " +
                                operand_str(b, opt.transpose_b) + " cannot be broadcast together");
  }
  const int64_t rank = static_cast<int64_t>(out_shape.size());
  const int64_t batches = shape_numel(out_shape);
  out_shape.push_back(n);
  out_shape.push_back(m);

  // Matrix strides of a and b over the batch axes (0 where broadcast).
  Shape pa(rank, 1), pb(rank, 1);
  std::copy(batch_a.begin(), batch_a.end(), pa.end() - batch_a.size());
  std::copy(batch_b.begin(), batch_b.end(), pb.end() - batch_b.size());
  std::vector<int64_t> stride_a(rank), stride_b(rank);
  for (int64_t i = rank - 1, ra = 1, rb = 1; i >= 0; --i) {
    stride_a[i] = pa[i] == 1 ? 0 : ra;
    stride_b[i] = pb[i] == 1 ? 0 : rb;
    ra *= pa[i];
    rb *= pb[i];
  }

  Tensor out = Tensor::empty(out_shape);
  const Precision precision = matmul_precision();
  const Scalar* da = a.data();
  const Scalar* db = b.data();
  Scalar* dc = out.data();
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t rem = t, ia = 0, ib = 0;
      for (int64_t i = rank - 1; i >= 0; --i) {
        const int64_t idx = rem % out_shape[i];
        rem /= out_shape[i];
        ia += idx * stride_a[i];
        ib += idx * stride_b[i];
      }
      matrix_product({da + ia * a_rows * a_cols, a_rows, a_cols, opt.transpose_a},
                     {db + ib * b_rows * b_cols, b_rows, b_cols, opt.transpose_b}, opt.alpha, dc + t * n * m,
                     nullptr, precision);
    }
  };
  // One product: it is split over the threads. Many: each product runs on one thread,
  // handed out as parallel_tasks does.
  if (batches > 1)
    parallel_tasks(batches, n * m * k, [&](const auto& next) {
      for (int64_t t; next(t);) run(t, t + 1);
    });
  else run(0, batches);

  // Nothing to record (NoGradGuard, or no operand needs a gradient): return before the
  // closure is built, whose saved operands cost more than a small product.
  if (!grad_enabled() || !(a.requires_grad() || b.requires_grad())) return out;
  return record_op("matmul", out, {a, b}, [a = kernels::saved(a), b = kernels::saved(b), opt, need_a = a.requires_grad(),
                                          need_b = b.requires_grad()](const Tensor& g) {
    const bool ta = opt.transpose_a, tb = opt.transpose_b;
    // Forward: C = alpha op(A) op(B). Then dop(A) = alpha G op(B)^T and dop(B) =
    // alpha op(A)^T G; a stored transposed operand receives the transpose of that.
    Tensor ga, gb;
    if (need_a)
      ga = ta ? matmul(b, g, {.transpose_a = tb, .transpose_b = true, .alpha = opt.alpha})
              : matmul(g, b, {.transpose_a = false, .transpose_b = !tb, .alpha = opt.alpha});
    if (need_b)
      gb = tb ? matmul(g, a, {.transpose_a = true, .transpose_b = ta, .alpha = opt.alpha})
              : matmul(a, g, {.transpose_a = !ta, .transpose_b = false, .alpha = opt.alpha});
    return std::vector<Tensor>{need_a ? sum_to(ga, a.shape()) : Tensor(),
                               need_b ? sum_to(gb, b.shape()) : Tensor()};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (x.dim() < 1 || weight.dim() != 2 || x.size(-1) != weight.size(0) ||
      (bias.defined() && bias.shape() != Shape{weight.size(1)}))
    throw std::invalid_argument("linear: input " + shape_str(x.shape()) + ", weight " + shape_str(weight.shape()) +
                                " and bias " + (bias.defined() ? shape_str(bias.shape()) : "none") +
                                " do not fit: need input [.., in], weight [in, out], bias [out]");
  const int64_t in = weight.size(0), out = weight.size(1);
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y = Tensor::empty(out_shape);
  const Precision precision = matmul_precision();
  // Every leading axis of x is a row of one product, [rows, in] x [in, out], which adds the
  // bias as it writes each row.
  matrix_product({x.data(), rows, in, false}, {weight.data(), in, out, false}, 1, y.data(),
                 bias.defined() ? bias.data() : nullptr, precision);

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  if (!grad_enabled() || !(need_x || need_w || need_b)) return y;  // as matmul: nothing to record
  return record_op("linear", y, {x, weight, bias},
                   [x = need_w ? kernels::saved(x) : Tensor(), w = need_x ? kernels::saved(weight) : Tensor(),
                    x_shape = x.shape(), rows, in, out, need_x, need_w, need_b](const Tensor& g) {
                     Tensor gx, gw, gb;
                     const Precision precision = matmul_precision();
                     if (need_x) {  // dx = G W^T
                       gx = Tensor::empty(x_shape);
                       matrix_product({g.data(), rows, out, false}, {w.data(), in, out, true}, 1, gx.data(), nullptr,
                                      precision);
                     }
                     if (need_w) {  // dW = x^T G
                       gw = Tensor::empty({in, out});
                       matrix_product({x.data(), rows, in, true}, {g.data(), rows, out, false}, 1, gw.data(), nullptr,
                                      precision);
                     }
                     if (need_b) {  // db = the column sums of G; each thread sums a block of columns
                       gb = Tensor::zeros({out});
                       parallel_for(out, rows, [&](int64_t begin, int64_t end) {
                         kernels::ArrayMap sum(gb.data() + begin, end - begin);
                         for (int64_t r = 0; r < rows; ++r)
                           sum += kernels::ConstArrayMap(g.data() + r * out + begin, end - begin);
                       });
                     }
                     return std::vector<Tensor>{gx, gw, gb};
                   });
}

}  // namespace qkv
