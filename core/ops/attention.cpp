// Fused scaled dot-product attention, softmax(scale q k^T) v, after FlashAttention (Dao et
// al. 2022, Algorithm 1; the backward as in FlashAttention-2). Queries are taken in blocks
// of kQueryBlock rows and keys in blocks of kKeyBlock; each block of scores S lives only in
// a small buffer, folded into the output with a running row max m and row sum l (the
// "online softmax"), so the [Nq, Nk] weights never exist in memory. The backward keeps
// q, k, v, the output O and each row's logsumexp L = m + log(l), and recomputes the
// weights block by block from them. Short key sequences (Nk <= kKeyBlock, one key block)
// are the exception: there the forward keeps the normalised weights, at most kKeyBlock
// floats per query, which spares the backward one of its five products and all its exps
// (a quarter of its time at Nk = 256). The products are kernels::direct_gemm, which reads
// the blocks in place: Eigen's GEMM copied every operand into its own layout first, which
// took a fifth of the time at the size of one head. The unfused composition
// (layers/attention_function.cpp) computes the same numbers and is what the tests compare
// against.
#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/kernels.h"

namespace qkv {
namespace {
using kernels::Matrix;
using Vector = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using ConstMatrixMap = kernels::ConstMatrixMap;
using MatrixMap = kernels::MatrixMap;

constexpr int64_t kQueryBlock = 256;
constexpr int64_t kKeyBlock = 512;
using kernels::kNegInf;

struct Dims {
  int64_t batch, nq, nk, d, dv;  // batch: every leading axis flattened
};

// Key blocks a causal query block [q0, q1) needs: keys j <= i, so up to key q1 - 1.
int64_t keys_seen(const Dims& dims, bool causal, int64_t q1) { return causal ? std::min(dims.nk, q1) : dims.nk; }

// How many keys of the block starting at key k0 query i may see: all of them, or under
// the causal mask those with j <= i. Hidden keys are always a suffix of the block's row.
int64_t visible_keys(bool causal, int64_t i, int64_t k0, int64_t cols) {
  return causal ? std::clamp<int64_t>(i + 1 - k0, 0, cols) : cols;
}

// exp(s - shift) over each row's visible keys and 0 over the hidden ones. (Eigen 3.4's
// select() is not vectorised, so the hidden suffix is zeroed separately: exp stays a
// vector instruction.)
template <class Block>
void exp_shifted(Block&& s, const Vector& shift, bool causal, int64_t q0, int64_t k0) {
  for (int64_t r = 0; r < s.rows(); ++r) {
    const int64_t seen = visible_keys(causal, q0 + r, k0, s.cols());
    s.row(r).head(seen).array() = (s.row(r).head(seen).array() - shift(r)).exp();
    s.row(r).tail(s.cols() - seen).setZero();
  }
}

// Whether the forward keeps the weights for the backward: only when they are one key block.
bool keeps_weights(const Dims& dims) { return dims.nk <= kKeyBlock; }

// One thread's buffers: a block of scores or weights, the output accumulator of the online
// softmax, and K^T and V^T of the current batch entry. The products read their right-hand
// operand row by row (kernels::direct_gemm), so q k^T and dO v^T take K and V transposed.
struct Workspace {
  Matrix s, acc, kt, vt;
};

const Scalar* transposed(Matrix& buffer, const Scalar* x, int64_t rows, int64_t cols) {
  buffer.resize(cols, rows);
  kernels::transpose(x, rows, cols, buffer.data());
  return buffer.data();
}

// C = alpha A B (+ C) over raw row-major buffers; `a_transposed` reads A's buffer as A^T.
void product(int64_t m, int64_t n, int64_t k, Scalar alpha, const Scalar* a, int64_t lda, bool a_transposed,
             const Scalar* b, int64_t ldb, Scalar* c, int64_t ldc, bool accumulate) {
  const kernels::StridedMatrix lhs = a_transposed ? kernels::StridedMatrix{a, 1, lda} : kernels::StridedMatrix{a, lda, 1};
  kernels::direct_gemm(m, n, k, alpha, lhs, b, ldb, c, ldc, accumulate);
}

// Forward of one batch entry: O [nq, dv] and L [nq], and the weights P [nq, nk] when
// `weights` is given. With a single key block the row max and sum are final after it, so
// P is normalised in place (in `weights` when they are kept) and O = P V written directly;
// with several, the block's weights are folded into an accumulator with the running max
// m and sum l, and O = acc / l at the end.
void forward_one(const Scalar* q, const Scalar* k, const Scalar* v, Scalar* o, Scalar* lse, Scalar* weights,
                 const Dims& dims, Scalar scale, bool causal, Workspace& w) {
  const Scalar* kt = transposed(w.kt, k, dims.nk, dims.d);
  const bool one_block = dims.nk <= kKeyBlock;
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0), q1 = q0 + rows;
    Vector m = Vector::Constant(rows, kNegInf), l = Vector::Zero(rows);
    if (!one_block) w.acc.setZero(rows, dims.dv);
    for (int64_t k0 = 0; k0 < keys_seen(dims, causal, q1); k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, dims.nk - k0);
      const int64_t lds = weights ? dims.nk : cols;  // one key block when weights are kept
      if (!weights) w.s.resize(rows, cols);
      Scalar* s_data = weights ? weights + q0 * dims.nk : w.s.data();
      Eigen::Map<Matrix, 0, Eigen::OuterStride<>> s(s_data, rows, cols, Eigen::OuterStride<>(lds));
      product(rows, cols, dims.d, scale, q + q0 * dims.d, dims.d, false, kt + k0, dims.nk, s_data, lds, false);
      // Row by row, while the row is in the L1 cache: its new max, exp, sum (and with a
      // single key block, the normalisation).
      Vector alpha(rows);  // the share of what was summed so far that survives a new max
      for (int64_t r = 0; r < rows; ++r) {
        auto row = s.row(r);
        const int64_t seen = visible_keys(causal, q0 + r, k0, cols);
        const Scalar m_new = seen > 0 ? std::max(m(r), row.head(seen).maxCoeff()) : m(r);
        row.head(seen).array() = (row.head(seen).array() - m_new).exp();
        row.tail(cols - seen).setZero();
        alpha(r) = m(r) == kNegInf ? Scalar(0) : std::exp(m(r) - m_new);
        l(r) = alpha(r) * l(r) + row.sum();
        m(r) = m_new;
        // l >= 1 wherever a key is visible (the row max contributes exp(0)); a query with
        // no key to see keeps zero weights, so zero output, as softmax gives.
        if (one_block && l(r) > 0) row *= 1 / l(r);
      }
      if (one_block) {
        product(rows, dims.dv, cols, 1, s_data, lds, false, v + k0 * dims.dv, dims.dv, o + q0 * dims.dv, dims.dv,
                false);
      } else {  // the online softmax: rescale the accumulator to the new row max, then add
        w.acc = alpha.matrix().asDiagonal() * w.acc;
        product(rows, dims.dv, cols, 1, s_data, lds, false, v + k0 * dims.dv, dims.dv, w.acc.data(), dims.dv, true);
      }
    }
    MatrixMap O(o + q0 * dims.dv, rows, dims.dv);
    if (keys_seen(dims, causal, q1) == 0) O.setZero();  // no keys at all
    for (int64_t r = 0; r < rows; ++r) {
      lse[q0 + r] = l(r) == 0 ? kNegInf : m(r) + std::log(l(r));
      if (!one_block) O.row(r) = w.acc.row(r) / (l(r) == 0 ? Scalar(1) : l(r));  // acc is 0 where l is
    }
  }
}

// Backward of one batch entry. With P = softmax(S) (kept by the forward, or recomputed
// from L) and dO the output's gradient: dV = P^T dO, dP = dO V^T, dS = P * (dP - D) with
// D = rowsum(dO * O), and dQ = scale dS K, dK = scale dS^T Q. Each block of dQ, dK and dV
// is written by its first product and accumulated by the later ones.
void backward_one(const Scalar* q, const Scalar* k, const Scalar* v, const Scalar* o, const Scalar* lse,
                  const Scalar* weights, const Scalar* go, Scalar* gq, Scalar* gk, Scalar* gv, const Dims& dims,
                  Scalar scale, bool causal, Workspace& w) {
  const ConstMatrixMap O(o, dims.nq, dims.dv), dO(go, dims.nq, dims.dv);
  const Scalar* kt = weights ? nullptr : transposed(w.kt, k, dims.nk, dims.d);
  const Scalar* vt = transposed(w.vt, v, dims.nk, dims.dv);
  const Vector D = (dO.array() * O.array()).rowwise().sum();
  int64_t keys_written = 0;  // dK and dV rows below this have had a product
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0), q1 = q0 + rows;
    const Vector L = Eigen::Map<const Vector>(lse + q0, rows);
    if (keys_seen(dims, causal, q1) == 0) MatrixMap(gq + q0 * dims.d, rows, dims.d).setZero();
    for (int64_t k0 = 0; k0 < keys_seen(dims, causal, q1); k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, dims.nk - k0);
      const int64_t ldp = weights ? dims.nk : cols;
      if (!weights) {
        w.s.resize(rows, cols);
        product(rows, cols, dims.d, scale, q + q0 * dims.d, dims.d, false, kt + k0, dims.nk, w.s.data(), cols, false);
        exp_shifted(w.s, L, causal, q0, k0);  // the forward's weights, exactly normalised by L
      }
      const Scalar* p = weights ? weights + q0 * dims.nk : w.s.data();
      const bool key_rows_written = k0 < keys_written;
      product(cols, dims.dv, rows, 1, p, ldp, true, go + q0 * dims.dv, dims.dv, gv + k0 * dims.dv, dims.dv,
              key_rows_written);
      w.acc.resize(rows, cols);  // dP, then dS in place
      product(rows, cols, dims.dv, 1, go + q0 * dims.dv, dims.dv, false, vt + k0, dims.nk, w.acc.data(), cols, false);
      const Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> P(p, rows, cols, Eigen::OuterStride<>(ldp));
      w.acc.array() = P.array() * (w.acc.array().colwise() - D.segment(q0, rows));
      product(rows, dims.d, cols, scale, w.acc.data(), cols, false, k + k0 * dims.d, dims.d, gq + q0 * dims.d, dims.d,
              k0 > 0);
      product(cols, dims.d, rows, scale, w.acc.data(), cols, true, q + q0 * dims.d, dims.d, gk + k0 * dims.d, dims.d,
              key_rows_written);
      keys_written = std::max(keys_written, k0 + cols);
    }
  }
  // Keys no query may see (causal, more keys than queries) get zero gradients.
  MatrixMap(gk, dims.nk, dims.d).bottomRows(dims.nk - keys_written).setZero();
  MatrixMap(gv, dims.nk, dims.dv).bottomRows(dims.nk - keys_written).setZero();
}

Dims check_shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("scaled_dot_product_attention: " + why + "; got q " + shape_str(q.shape()) +
                                ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  };
  if (q.dim() < 2 || k.dim() != q.dim() || v.dim() != q.dim()) fail("q, k and v need the same rank, at least 2");
  if (!std::equal(q.shape().begin(), q.shape().end() - 2, k.shape().begin()) ||
      !std::equal(q.shape().begin(), q.shape().end() - 2, v.shape().begin()))
    fail("q, k and v need the same leading axes");
  if (q.size(-1) != k.size(-1)) fail("q and k need the same width d_k");
  if (k.size(-2) != v.size(-2)) fail("k and v need the same number of keys");
  const int64_t nq = q.size(-2), d = q.size(-1), dv = v.size(-1);
  return {shape_numel(Shape(q.shape().begin(), q.shape().end() - 2)), nq, k.size(-2), d, dv};
}
}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, Scalar scale, bool causal) {
  const Dims dims = check_shapes(q, k, v);
  Shape out_shape = q.shape();
  out_shape.back() = dims.dv;
  Tensor out = Tensor::empty(out_shape);
  Tensor lse = Tensor::empty({dims.batch, dims.nq});
  // Only a backward can use the weights: under NoGradGuard, or with no input that needs a
  // gradient, they are not kept.
  const bool recorded = grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  Tensor weights = recorded && keeps_weights(dims) ? Tensor::empty({dims.batch, dims.nq, dims.nk}) : Tensor();
  const int64_t cost = dims.nq * dims.nk * (dims.d + dims.dv);
  parallel_for(dims.batch, cost, [&](int64_t begin, int64_t end) {
    Workspace w;
    for (int64_t b = begin; b < end; ++b)
      forward_one(q.data() + b * dims.nq * dims.d, k.data() + b * dims.nk * dims.d, v.data() + b * dims.nk * dims.dv,
                  out.data() + b * dims.nq * dims.dv, lse.data() + b * dims.nq,
                  weights.defined() ? weights.data() + b * dims.nq * dims.nk : nullptr, dims, scale, causal, w);
  });
  return record_op("scaled_dot_product_attention", out, {q, k, v},
                   [q = kernels::saved(q), k = kernels::saved(k), v = kernels::saved(v), o = kernels::saved(out), lse,
                    weights, dims, scale, causal](const Tensor& g) {
                     Tensor gq = Tensor::empty(q.shape()), gk = Tensor::empty(k.shape()), gv = Tensor::empty(v.shape());
                     parallel_for(dims.batch, 2 * dims.nq * dims.nk * (dims.d + dims.dv), [&](int64_t begin, int64_t end) {
                       Workspace w;
                       for (int64_t b = begin; b < end; ++b) {
                         const int64_t qo = b * dims.nq * dims.d, ko = b * dims.nk * dims.d;
                         const int64_t vo = b * dims.nk * dims.dv, oo = b * dims.nq * dims.dv;
                         backward_one(q.data() + qo, k.data() + ko, v.data() + vo, o.data() + oo,
                                      lse.data() + b * dims.nq,
                                      weights.defined() ? weights.data() + b * dims.nq * dims.nk : nullptr,
                                      g.data() + oo, gq.data() + qo, gk.data() + ko, gv.data() + vo, dims, scale,
                                      causal, w);
                       }
                     });
                     return std::vector<Tensor>{gq, gk, gv};
                   });
}

}  // namespace qkv
