// Fused scaled dot-product attention, softmax(scale q k^T) v, after FlashAttention (Dao et
// al. 2022, Algorithm 1; the backward as in FlashAttention-2). Queries are taken in blocks
// of kQueryBlock rows and keys in blocks of kKeyBlock; each block of scores S lives only in
// a small buffer, folded into the output with a running row max m and row sum l (the
// "online softmax"), so the [Nq, Nk] weights never exist in memory. The backward keeps
// q, k, v, the output O and each row's logsumexp L = m + log(l), and recomputes the
// weights block by block from them. Short key sequences (Nk <= kKeyBlock, one key block)
// are the exception: there the forward keeps the normalised weights, at most kKeyBlock
// floats per query, which spares the backward one of its five products and all its exps
// (a quarter of its time at Nk = 256). The unfused composition
// (layers/attention_function.cpp) computes the same numbers and is what the tests compare
// against.
#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
namespace {
using kernels::Matrix;
using Vector = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using ConstMatrixMap = kernels::ConstMatrixMap;
using MatrixMap = kernels::MatrixMap;
using ConstMatrixRef = Eigen::Ref<const Matrix, 0, Eigen::OuterStride<>>;

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

// Forward of one batch entry: O [nq, dv] and L [nq], and the weights P [nq, nk] when
// `weights` is given (one key block).
void forward_one(const Scalar* q, const Scalar* k, const Scalar* v, Scalar* o, Scalar* lse, Scalar* weights,
                 const Dims& dims, Scalar scale, bool causal, Matrix& s, Matrix& acc) {
  const ConstMatrixMap Q(q, dims.nq, dims.d), K(k, dims.nk, dims.d), V(v, dims.nk, dims.dv);
  MatrixMap O(o, dims.nq, dims.dv);
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0), q1 = q0 + rows;
    Vector m = Vector::Constant(rows, kNegInf), l = Vector::Zero(rows);
    acc.setZero(rows, dims.dv);
    for (int64_t k0 = 0; k0 < keys_seen(dims, causal, q1); k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, dims.nk - k0);
      s.resize(rows, cols);
      s.noalias() = scale * (Q.middleRows(q0, rows) * K.middleRows(k0, cols).transpose());
      // Online softmax: rescale what was summed so far to the new row max.
      Vector m_new = m;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t seen = visible_keys(causal, q0 + r, k0, cols);
        if (seen > 0) m_new(r) = std::max(m(r), s.row(r).head(seen).maxCoeff());
      }
      Vector alpha(rows);
      for (int64_t r = 0; r < rows; ++r) alpha(r) = m(r) == kNegInf ? Scalar(0) : std::exp(m(r) - m_new(r));
      exp_shifted(s, m_new, causal, q0, k0);  // s is now P, the block's unnormalised weights
      l = alpha * l + s.rowwise().sum().array();
      acc = alpha.matrix().asDiagonal() * acc;
      acc.noalias() += s * V.middleRows(k0, cols);
      m = m_new;
      if (weights)  // the only key block, so l is final (and >= 1: the row max contributes exp(0))
        MatrixMap(weights + q0 * dims.nk, rows, cols) = (s.array().colwise() / l).matrix();
    }
    for (int64_t r = 0; r < rows; ++r) {
      // A query with no key to see (Nk = 0) gets zero output, as softmax gives zero weights.
      if (l(r) == 0) {
        O.row(q0 + r).setZero();
        lse[q0 + r] = kNegInf;
      } else {
        O.row(q0 + r) = acc.row(r) / l(r);
        lse[q0 + r] = m(r) + std::log(l(r));
      }
    }
  }
}

// Backward of one batch entry. With P = softmax(S) (kept by the forward, or recomputed
// from L) and dO the output's gradient: dV = P^T dO, dP = dO V^T, dS = P * (dP - D) with
// D = rowsum(dO * O), and dQ = scale dS K, dK = scale dS^T Q.
void backward_one(const Scalar* q, const Scalar* k, const Scalar* v, const Scalar* o, const Scalar* lse,
                  const Scalar* weights, const Scalar* go, Scalar* gq, Scalar* gk, Scalar* gv, const Dims& dims,
                  Scalar scale, bool causal, Matrix& p, Matrix& dp) {
  const ConstMatrixMap Q(q, dims.nq, dims.d), K(k, dims.nk, dims.d), V(v, dims.nk, dims.dv);
  const ConstMatrixMap O(o, dims.nq, dims.dv), dO(go, dims.nq, dims.dv);
  MatrixMap dQ(gq, dims.nq, dims.d), dK(gk, dims.nk, dims.d), dV(gv, dims.nk, dims.dv);
  dQ.setZero();
  dK.setZero();
  dV.setZero();
  const Vector D = (dO.array() * O.array()).rowwise().sum();
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0), q1 = q0 + rows;
    const Vector L = Eigen::Map<const Vector>(lse + q0, rows);
    for (int64_t k0 = 0; k0 < keys_seen(dims, causal, q1); k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, dims.nk - k0);
      if (!weights) {
        p.resize(rows, cols);
        p.noalias() = scale * (Q.middleRows(q0, rows) * K.middleRows(k0, cols).transpose());
        exp_shifted(p, L, causal, q0, k0);  // the forward's weights, exactly normalised by L
      }
      const ConstMatrixRef P = weights ? ConstMatrixRef(ConstMatrixMap(weights + q0 * dims.nk, rows, cols))
                                       : ConstMatrixRef(p);
      dV.middleRows(k0, cols).noalias() += P.transpose() * dO.middleRows(q0, rows);
      dp.resize(rows, cols);
      dp.noalias() = dO.middleRows(q0, rows) * V.middleRows(k0, cols).transpose();
      dp.array() = P.array() * (dp.array().colwise() - D.segment(q0, rows));  // now dS
      dQ.middleRows(q0, rows).noalias() += scale * (dp * K.middleRows(k0, cols));
      dK.middleRows(k0, cols).noalias() += scale * (dp.transpose() * Q.middleRows(q0, rows));
    }
  }
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
    Matrix s, acc;  // this thread's block buffers
    for (int64_t b = begin; b < end; ++b)
      forward_one(q.data() + b * dims.nq * dims.d, k.data() + b * dims.nk * dims.d, v.data() + b * dims.nk * dims.dv,
                  out.data() + b * dims.nq * dims.dv, lse.data() + b * dims.nq,
                  weights.defined() ? weights.data() + b * dims.nq * dims.nk : nullptr, dims, scale, causal, s, acc);
  });
  return record_op("scaled_dot_product_attention", out, {q, k, v},
                   [q = kernels::saved(q), k = kernels::saved(k), v = kernels::saved(v), o = kernels::saved(out), lse,
                    weights, dims, scale, causal](const Tensor& g) {
                     Tensor gq = Tensor::empty(q.shape()), gk = Tensor::empty(k.shape()), gv = Tensor::empty(v.shape());
                     parallel_for(dims.batch, 2 * dims.nq * dims.nk * (dims.d + dims.dv), [&](int64_t begin, int64_t end) {
                       Matrix p, dp;
                       for (int64_t b = begin; b < end; ++b) {
                         const int64_t qo = b * dims.nq * dims.d, ko = b * dims.nk * dims.d;
                         const int64_t vo = b * dims.nk * dims.dv, oo = b * dims.nq * dims.dv;
                         backward_one(q.data() + qo, k.data() + ko, v.data() + vo, o.data() + oo,
                                      lse.data() + b * dims.nq,
                                      weights.defined() ? weights.data() + b * dims.nq * dims.nk : nullptr,
                                      g.data() + oo, gq.data() + qo, gk.data() + ko, gv.data() + vo, dims, scale,
                                      causal, p, dp);
                       }
                     });
                     return std::vector<Tensor>{gq, gk, gv};
                   });
}

}  // namespace qkv
