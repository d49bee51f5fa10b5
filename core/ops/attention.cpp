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
//
// Heads may sit side by side in the last axis ([B, N, H * d], the layout a linear layer
// produces): each head is then a matrix whose rows are H * d apart, and the products read
// and write it in place, so multi-head attention needs no permute to split and merge heads.
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

// The problem: `entries` independent attentions, one per batch entry and head. Entry t is
// head t % heads of batch row t / heads; its rows of q and k are ld_qk() apart, of v and
// the output ld_v() apart (heads = 1: the plain [.., N, d] layout).
struct Dims {
  int64_t batch, heads, nq, nk, d, dv;
  int64_t entries() const { return batch * heads; }
  int64_t ld_qk() const { return heads * d; }
  int64_t ld_v() const { return heads * dv; }
  int64_t q_offset(int64_t t) const { return (t / heads) * nq * ld_qk() + (t % heads) * d; }
  int64_t k_offset(int64_t t) const { return (t / heads) * nk * ld_qk() + (t % heads) * d; }
  int64_t v_offset(int64_t t) const { return (t / heads) * nk * ld_v() + (t % heads) * dv; }
  int64_t o_offset(int64_t t) const { return (t / heads) * nq * ld_v() + (t % heads) * dv; }
};

using StridedMap = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;

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
// softmax, and K^T and V^T of the current entry. The products read their right-hand
// operand row by row (kernels::direct_gemm), so q k^T and dO v^T take K and V transposed.
struct Workspace {
  Matrix s, acc, kt, vt;
};

const Scalar* transposed(Matrix& buffer, const Scalar* x, int64_t rows, int64_t cols, int64_t ld) {
  buffer.resize(cols, rows);
  kernels::transpose(x, rows, cols, ld, buffer.data());
  return buffer.data();
}

// C = alpha A B (+ C) over raw row-major buffers; `a_transposed` reads A's buffer as A^T.
void block_product(int64_t m, int64_t n, int64_t k, Scalar alpha, const Scalar* a, int64_t lda, bool a_transposed,
                   const Scalar* b, int64_t ldb, Scalar* c, int64_t ldc, bool accumulate) {
  kernels::direct_gemm(m, n, k, alpha, kernels::StridedMatrix::row_major(a, lda, a_transposed), b, ldb, c, ldc,
                       accumulate);
}

// Forward of one entry: O [nq, dv] and L [nq], and the weights P [nq, nk] when `weights`
// is given. With a single key block the row max and sum are final after it, so P is
// normalised in place (in `weights` when they are kept) and O = P V written directly; with
// several, each block's weights are folded into an accumulator with the running max m and
// sum l, and O = acc / l at the end.
void forward_one(const Scalar* q, const Scalar* k, const Scalar* v, Scalar* o, Scalar* lse, Scalar* weights,
                 const Dims& dims, Scalar scale, bool causal, Workspace& w) {
  const int64_t ldq = dims.ld_qk(), ldv = dims.ld_v();
  const Scalar* kt = transposed(w.kt, k, dims.nk, dims.d, ldq);
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
      StridedMap s(s_data, rows, cols, Eigen::OuterStride<>(lds));
      block_product(rows, cols, dims.d, scale, q + q0 * ldq, ldq, false, kt + k0, dims.nk, s_data, lds, false);
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
        block_product(rows, dims.dv, cols, 1, s_data, lds, false, v + k0 * ldv, ldv, o + q0 * ldv, ldv, false);
      } else {  // the online softmax: rescale the accumulator to the new row max, then add
        w.acc = alpha.matrix().asDiagonal() * w.acc;
        block_product(rows, dims.dv, cols, 1, s_data, lds, false, v + k0 * ldv, ldv, w.acc.data(), dims.dv, true);
      }
    }
    StridedMap O(o + q0 * ldv, rows, dims.dv, Eigen::OuterStride<>(ldv));
    if (keys_seen(dims, causal, q1) == 0) O.setZero();  // no keys at all
    for (int64_t r = 0; r < rows; ++r) {
      lse[q0 + r] = l(r) == 0 ? kNegInf : m(r) + std::log(l(r));
      if (!one_block) O.row(r) = w.acc.row(r) / (l(r) == 0 ? Scalar(1) : l(r));  // acc is 0 where l is
    }
  }
}

// Backward of one entry. With P = softmax(S) (kept by the forward, or recomputed from L)
// and dO the output's gradient: dV = P^T dO, dP = dO V^T, dS = P * (dP - D) with
// D = rowsum(dO * O), and dQ = scale dS K, dK = scale dS^T Q. Each block of dQ, dK and dV
// is written by its first product and accumulated by the later ones.
void backward_one(const Scalar* q, const Scalar* k, const Scalar* v, const Scalar* o, const Scalar* lse,
                  const Scalar* weights, const Scalar* go, Scalar* gq, Scalar* gk, Scalar* gv, const Dims& dims,
                  Scalar scale, bool causal, Workspace& w) {
  const int64_t ldq = dims.ld_qk(), ldv = dims.ld_v();
  const ConstStridedMap O(o, dims.nq, dims.dv, Eigen::OuterStride<>(ldv));
  const ConstStridedMap dO(go, dims.nq, dims.dv, Eigen::OuterStride<>(ldv));
  const Scalar* kt = weights ? nullptr : transposed(w.kt, k, dims.nk, dims.d, ldq);
  const Scalar* vt = transposed(w.vt, v, dims.nk, dims.dv, ldv);
  const Vector D = (dO.array() * O.array()).rowwise().sum();
  int64_t keys_written = 0;  // dK and dV rows below this have had a product
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0), q1 = q0 + rows;
    const Vector L = Eigen::Map<const Vector>(lse + q0, rows);
    if (keys_seen(dims, causal, q1) == 0)
      StridedMap(gq + q0 * ldq, rows, dims.d, Eigen::OuterStride<>(ldq)).setZero();
    for (int64_t k0 = 0; k0 < keys_seen(dims, causal, q1); k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, dims.nk - k0);
      const int64_t ldp = weights ? dims.nk : cols;
      if (!weights) {
        w.s.resize(rows, cols);
        block_product(rows, cols, dims.d, scale, q + q0 * ldq, ldq, false, kt + k0, dims.nk, w.s.data(), cols, false);
        exp_shifted(w.s, L, causal, q0, k0);  // the forward's weights, exactly normalised by L
      }
      const Scalar* p = weights ? weights + q0 * dims.nk : w.s.data();
      const bool key_rows_written = k0 < keys_written;
      block_product(cols, dims.dv, rows, 1, p, ldp, true, go + q0 * ldv, ldv, gv + k0 * ldv, ldv, key_rows_written);
      w.acc.resize(rows, cols);  // dP, then dS in place
      block_product(rows, cols, dims.dv, 1, go + q0 * ldv, ldv, false, vt + k0, dims.nk, w.acc.data(), cols, false);
      const ConstStridedMap P(p, rows, cols, Eigen::OuterStride<>(ldp));
      w.acc.array() = P.array() * (w.acc.array().colwise() - D.segment(q0, rows));
      block_product(rows, dims.d, cols, scale, w.acc.data(), cols, false, k + k0 * ldq, ldq, gq + q0 * ldq, ldq, k0 > 0);
      block_product(cols, dims.d, rows, scale, w.acc.data(), cols, true, q + q0 * ldq, ldq, gk + k0 * ldq, ldq,
              key_rows_written);
      keys_written = std::max(keys_written, k0 + cols);
    }
  }
  // Keys no query may see (causal, more keys than queries) get zero gradients.
  const int64_t unseen = dims.nk - keys_written;
  StridedMap(gk + keys_written * ldq, unseen, dims.d, Eigen::OuterStride<>(ldq)).setZero();
  StridedMap(gv + keys_written * ldv, unseen, dims.dv, Eigen::OuterStride<>(ldv)).setZero();
}

[[noreturn]] void shape_error(const char* op, const std::string& why, const Tensor& q, const Tensor& k,
                              const Tensor& v) {
  throw std::invalid_argument(std::string(op) + ": " + why + "; got q " + shape_str(q.shape()) + ", k " +
                              shape_str(k.shape()) + ", v " + shape_str(v.shape()));
}

Dims check_shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  const char* op = "scaled_dot_product_attention";
  if (q.dim() < 2 || k.dim() != q.dim() || v.dim() != q.dim())
    shape_error(op, "q, k and v need the same rank, at least 2", q, k, v);
  if (!std::equal(q.shape().begin(), q.shape().end() - 2, k.shape().begin()) ||
      !std::equal(q.shape().begin(), q.shape().end() - 2, v.shape().begin()))
    shape_error(op, "q, k and v need the same leading axes", q, k, v);
  if (q.size(-1) != k.size(-1)) shape_error(op, "q and k need the same width d_k", q, k, v);
  if (k.size(-2) != v.size(-2)) shape_error(op, "k and v need the same number of keys", q, k, v);
  return {shape_numel(Shape(q.shape().begin(), q.shape().end() - 2)), 1, q.size(-2), k.size(-2), q.size(-1), v.size(-1)};
}

Dims check_packed_shapes(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads) {
  const char* op = "packed_heads_attention";
  if (heads <= 0) shape_error(op, "heads must be positive, got " + std::to_string(heads), q, k, v);
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    shape_error(op, "with heads packed in the last axis, q, k and v must be [B, N, heads * d]", q, k, v);
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0))
    shape_error(op, "q, k and v need the same batch size", q, k, v);
  if (q.size(2) != k.size(2)) shape_error(op, "q and k need the same width", q, k, v);
  if (k.size(1) != v.size(1)) shape_error(op, "k and v need the same number of keys", q, k, v);
  if (q.size(2) % heads != 0 || v.size(2) % heads != 0)
    shape_error(op, std::to_string(heads) + " heads do not divide the widths of q and v", q, k, v);
  return {q.size(0), heads, q.size(1), k.size(1), q.size(2) / heads, v.size(2) / heads};
}

Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Dims& dims, Scalar scale, bool causal) {
  Shape out_shape = q.shape();
  out_shape.back() = v.size(-1);
  Tensor out = Tensor::empty(out_shape);
  Tensor lse = Tensor::empty({dims.entries(), dims.nq});
  // Only a backward can use the weights: under NoGradGuard, or with no input that needs a
  // gradient, they are not kept.
  const bool recorded = grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  Tensor weights = recorded && keeps_weights(dims) ? Tensor::empty({dims.entries(), dims.nq, dims.nk}) : Tensor();
  const int64_t cost = dims.nq * dims.nk * (dims.d + dims.dv);
  parallel_for(dims.entries(), cost, [&](int64_t begin, int64_t end) {
    Workspace w;
    for (int64_t t = begin; t < end; ++t)
      forward_one(q.data() + dims.q_offset(t), k.data() + dims.k_offset(t), v.data() + dims.v_offset(t),
                  out.data() + dims.o_offset(t), lse.data() + t * dims.nq,
                  weights.defined() ? weights.data() + t * dims.nq * dims.nk : nullptr, dims, scale, causal, w);
  });
  return record_op("scaled_dot_product_attention", out, {q, k, v},
                   [q = kernels::saved(q), k = kernels::saved(k), v = kernels::saved(v), o = kernels::saved(out), lse,
                    weights, dims, scale, causal](const Tensor& g) {
                     Tensor gq = Tensor::empty(q.shape()), gk = Tensor::empty(k.shape()), gv = Tensor::empty(v.shape());
                     parallel_for(dims.entries(), 2 * dims.nq * dims.nk * (dims.d + dims.dv), [&](int64_t begin, int64_t end) {
                       Workspace w;
                       for (int64_t t = begin; t < end; ++t) {
                         const int64_t qo = dims.q_offset(t), ko = dims.k_offset(t);
                         const int64_t vo = dims.v_offset(t), oo = dims.o_offset(t);
                         backward_one(q.data() + qo, k.data() + ko, v.data() + vo, o.data() + oo,
                                      lse.data() + t * dims.nq,
                                      weights.defined() ? weights.data() + t * dims.nq * dims.nk : nullptr,
                                      g.data() + oo, gq.data() + qo, gk.data() + ko, gv.data() + vo, dims, scale,
                                      causal, w);
                       }
                     });
                     return std::vector<Tensor>{gq, gk, gv};
                   });
}
}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, Scalar scale, bool causal) {
  return fused_attention(q, k, v, check_shapes(q, k, v), scale, causal);
}

Tensor packed_heads_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, Scalar scale,
                              bool causal) {
  return fused_attention(q, k, v, check_packed_shapes(q, k, v, heads), scale, causal);
}

}  // namespace qkv
