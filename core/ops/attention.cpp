// Fused attention with a score_mod and a mask_mod (flex_attention), after FlashAttention
// (Dao et al. 2022, Algorithm 1; the backward as in FlashAttention-2) and PyTorch's
// FlexAttention. Queries are taken in blocks of kQueryBlock rows and keys in blocks of up to
// kKeyBlock; each block of scores S = scale Q K^T lives only in a small buffer, where the
// score_mods change it, the mask hides keys, and the softmax folds it into the output with
// a running row max m and row sum l (the "online softmax"), so the [Nq, Nk] weights never
// exist in memory. The backward keeps q, k, v, the output O and each row's logsumexp
// L = m + log(l), and recomputes the weights block by block from them. Short key sequences
// (Nk <= kKeyBlock) are the exception: there the forward keeps the normalised weights, at
// most kKeyBlock floats per query, and the input of each score_mod that reads its scores,
// which spares the backward a product, all its exps and the mods.
//
// The mask is asked about tiles of kMaskTile keys per query block: keys outside the first
// and last tile it does not hide are never computed (a causal step does about half the
// work), hidden tiles inside are set to -inf, and only mixed tiles are asked key by key.
//
// Heads may sit side by side in the last axis ([B, N, H * d], the layout a linear layer
// produces): each head is then a matrix whose rows are H * d apart, and the products read
// and write it in place; q, k and v may also sit side by side in the rows of one tensor
// (flex_attention_qkv), read and given their gradients the same way. Keys and values may
// have fewer heads than queries (grouped-query attention): query head h reads key/value
// head h / (H / H_kv).
//
// In bf16 mode (core/precision.h) the products take bfloat16 operands with float32 sums
// (kernels::bf16_block_product) where their output fills a bf16 panel: Q K^T and dO V^T
// (as wide as a block of keys) and P V, dS K, P^T dO, dS^T Q (as wide as a head), each
// class by the width of its output (attention_product_precision; a causal block narrower
// than a full block of keys follows its class). The scores, mods, mask and softmax between them stay float32.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <utility>

#include "core/autograd.h"
#include "core/cpu_caches.h"
#include "core/masks.h"
#include "core/ops.h"
#include "core/ops/bf16_gemm.h"
#include "core/ops/block_footprint.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/gemm_dispatch.h"
#include "core/ops/kernels.h"
#include "core/ops/vector_tile.h"
#include "core/precision.h"
#include "core/storage_pool.h"

namespace qkv {
namespace {
using kernels::kNegInf;
using kernels::Matrix;
using Vector = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using StridedMap = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
using Block = MaskMod::Block;

// About 64 queries, in whole register tiles of the products (60 with AVX-512's 6-row tile):
// a partial tile in every block ran a causal step 5% slower.
constexpr int64_t kQueryBlock = 64 / kernels::kTileRows * kernels::kTileRows;
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kMaskTile = 64;

// The problem: `entries()` independent attentions, one per batch row and query head.
struct Dims {
  int64_t batch, heads, kv_heads, nq, nk, d, dv;
  bool packed;  // heads side by side in the last axis, else [.., H, N, d]
  // Packed q, k and v side by side in the rows of one tensor, this wide (flex_attention_qkv);
  // 0 when they are three tensors.
  int64_t qkv_width = 0;
  int64_t entries() const { return batch * heads; }
  int64_t group() const { return heads / kv_heads; }
  int64_t ld_q() const { return qkv_width ? qkv_width : packed ? heads * d : d; }
  int64_t ld_k() const { return qkv_width ? qkv_width : packed ? kv_heads * d : d; }
  int64_t ld_v() const { return qkv_width ? qkv_width : packed ? kv_heads * dv : dv; }
  int64_t ld_o() const { return packed ? heads * dv : dv; }
  int64_t batch_of(int64_t t) const { return t / heads; }
  int64_t head_of(int64_t t) const { return t % heads; }
  int64_t kv_of(int64_t t) const { return batch_of(t) * kv_heads + head_of(t) / group(); }  // key/value entry
  // The entries of key/value entry kv: member 0 .. group() - 1 of it.
  int64_t entry_of(int64_t kv, int64_t member) const {
    return (kv / kv_heads) * heads + (kv % kv_heads) * group() + member;
  }
  int64_t q_offset(int64_t t) const { return packed ? batch_of(t) * nq * ld_q() + head_of(t) * d : t * nq * d; }
  int64_t o_offset(int64_t t) const { return packed ? batch_of(t) * nq * ld_o() + head_of(t) * dv : t * nq * dv; }
  int64_t k_offset(int64_t kv) const { return packed ? (kv / kv_heads) * nk * ld_k() + (kv % kv_heads) * d : kv * nk * d; }
  int64_t v_offset(int64_t kv) const {
    return packed ? (kv / kv_heads) * nk * ld_v() + (kv % kv_heads) * dv : kv * nk * dv;
  }
};

// Everything one call needs, shared by the forward and the backward.
struct Problem {
  Dims dims;
  Scalar scale;
  std::vector<std::shared_ptr<const ScoreMod>> mods;
  std::shared_ptr<const MaskMod> mask;
  AttentionNormalizer normalizer;
  Scalar sigmoid_bias;
  Tensor sink;  // [heads] or undefined
  // Which products take bfloat16 operands (choose_bf16_products): those whose output is a
  // block of scores (Q K^T, dO V^T), and those whose output is as wide as a head (P V,
  // dS K, P^T dO, dS^T Q).
  bool bf16_scores = false, bf16_heads = false;
  bool softmax() const { return normalizer == AttentionNormalizer::softmax; }
  Scalar sink_of(int64_t t) const { return sink.defined() ? sink.data()[dims.head_of(t)] : kNegInf; }
};

// A scratch buffer that only grows, taken from the storage pool (core/storage_pool.h) and
// given back to it when the call ends. Each call of the attention makes its buffers anew,
// and from the C library those of a causal step (eight sizes, one per width of block)
// came back as fresh pages on every call: 150 page faults a step of [8, 8, 512, 64]
// against 7 unmasked. The pool hands the same buffers back, step after step.
class PooledBuffer {
 public:
  Scalar* reserve(int64_t count) {
    if (count > capacity_) {
      data_ = allocate_storage(count);
      capacity_ = count;
    }
    return data_.get();
  }
  Scalar* data() const { return data_.get(); }

 private:
  std::shared_ptr<Scalar[]> data_;
  int64_t capacity_ = 0;
};

// One thread's buffers: a block of scores or weights, the output accumulator or dP, the
// 0/1 visibility of mixed mask tiles, each score_mod's input, and K^T and V^T of the
// current key/value entry. The products read their right-hand operand row by row
// (kernels::direct_gemm), so q k^T and dO v^T take K and V transposed. The right-hand
// operands of the products that run in bf16 are packed instead (kernels::Bf16PackedB): K^T
// and V^T, or K and V, once per key/value entry, a query block's Q and dO once per block.
// The buffers only grow: blocks of changing width (a causal mask's) would otherwise
// allocate and free pages on every block.
#ifndef QKV_DOUBLE
using PackedOperand = kernels::Bf16PackedB;
#else
struct PackedOperand {};  // the double build has no bf16
#endif
struct Workspace {
  PooledBuffer s, acc, keep, kt, vt;
  // Each block's footprint by (q0, k0), where the mask is the same for every entry.
  std::map<std::pair<int64_t, int64_t>, kernels::BlockFootprint> footprints;
  kernels::BlockFootprint footprint;  // the current block's, otherwise
  std::vector<PooledBuffer> mod_inputs;
  PackedOperand kt16, vt16, k16, v16, q16, go16;
  int64_t kt_of = -1, vt_of = -1, k_of = -1, v_of = -1;  // the key/value entry each operand holds
};

// The right-hand operand B of a block product: rows in place, `ld` apart, or packed in
// bf16.
struct RightOperand {
  const Scalar* rows = nullptr;
  int64_t ld = 0;
  const PackedOperand* packed = nullptr;
};

// B [k, n] (stored transposed when `transposed`) as an operand: read in place in float32;
// in bf16, packed into `packed` unless it holds key/value entry `entry` already (`held`
// says which it holds; null for an operand packed on every call).
RightOperand operand(bool bf16, const Scalar* b, int64_t ld, bool transposed, int64_t k, int64_t n,
                     PackedOperand& packed, int64_t* held = nullptr, int64_t entry = -1) {
#ifndef QKV_DOUBLE
  if (bf16) {
    if (!held || *held != entry)
      packed.pack(kernels::StridedMatrix::row_major(b, ld, transposed), k, n, kernels::block_bf16_kernel());
    if (held) *held = entry;
    return {nullptr, 0, &packed};
  }
#else
  (void)bf16, (void)transposed, (void)k, (void)n, (void)packed, (void)held, (void)entry;
#endif
  return {b, ld, nullptr};
}

// x^T into `buffer`, its rows kernels::spread_stride(rows) apart.
void transpose_into(PooledBuffer& buffer, const Scalar* x, int64_t rows, int64_t cols, int64_t ld) {
  const int64_t out_ld = kernels::spread_stride(rows);
  kernels::transpose(x, rows, cols, ld, buffer.reserve(cols * out_ld), out_ld);
}

// X^T of entry kv's X [rows, cols] (K or V, rows `ld` apart): in float32 copied into
// `copy`, whose rows direct_gemm then reads; in bf16 packed from X as it lies.
RightOperand transposed_operand(bool bf16, const Scalar* x, int64_t rows, int64_t cols, int64_t ld,
                                PooledBuffer& copy, PackedOperand& packed, int64_t& held,
                                int64_t kv) {
  if (bf16) return operand(bf16, x, ld, true, cols, rows, packed, &held, kv);
  if (held != kv) transpose_into(copy, x, rows, cols, ld), held = kv;
  return {copy.data(), kernels::spread_stride(rows), nullptr};
}

// C = alpha A B[p0 :, j0 :] (+ C) with A a raw row-major buffer (`a_transposed`: read as
// A^T).
void block_product(int64_t m, int64_t n, int64_t k, Scalar alpha, const Scalar* a, int64_t lda, bool a_transposed,
                   const RightOperand& b, int64_t p0, int64_t j0, Scalar* c, int64_t ldc, bool accumulate) {
  const kernels::StridedMatrix lhs = kernels::StridedMatrix::row_major(a, lda, a_transposed);
#ifndef QKV_DOUBLE
  if (b.packed)
    return kernels::bf16_block_product(m, n, k, alpha, lhs, *b.packed, p0, j0, c, ldc, accumulate,
                                       kernels::block_bf16_kernel());
#endif
  kernels::direct_gemm(m, n, k, alpha, lhs, b.rows + p0 * b.ld + j0, b.ld, c, ldc, accumulate);
}

// The products of one block over the part its mask leaves (kernels::block_footprint):
// each group of query rows, or of keys, multiplies over the span it needs and no further.
using kernels::BlockFootprint;

// C [rows, cols] = alpha A B, with the rows of A and C the block's queries and the
// columns of B and C its keys (q k^T, dO v^T), from B's column j0 on. Outside each group's
// span C is set to 0: hidden there, and later passes read it whole.
void scores_product(const BlockFootprint& footprint, int64_t cols, int64_t k, Scalar alpha, const Scalar* a,
                    int64_t lda, const RightOperand& b, int64_t j0, Scalar* c, int64_t ldc) {
  for (const kernels::StripGroup& g : footprint.queries) {
    block_product(g.count, g.hi - g.lo, k, alpha, a + g.first * lda, lda, false, b, 0, j0 + g.lo,
                  c + g.first * ldc + g.lo, ldc, false);
    for (int64_t r = g.first; r < g.first + g.count; ++r) {
      std::fill_n(c + r * ldc, g.lo, Scalar(0));
      std::fill_n(c + r * ldc + g.hi, cols - g.hi, Scalar(0));
    }
  }
}

// C [rows, n] (+)= alpha A B, with the rows of A and C the block's queries and the depth
// its keys (P V, dS K); B's rows start at p0.
void queries_product(const BlockFootprint& footprint, int64_t n, Scalar alpha, const Scalar* a, int64_t lda,
                     const RightOperand& b, int64_t p0, Scalar* c, int64_t ldc, bool accumulate) {
  for (const kernels::StripGroup& g : footprint.queries)
    block_product(g.count, n, g.hi - g.lo, alpha, a + g.first * lda + g.lo, lda, false, b, p0 + g.lo, 0,
                  c + g.first * ldc, ldc, accumulate);
}

// C [cols, n] += alpha A^T B, with A [rows, cols] as the block's scores are stored, the
// rows of C the block's keys and the depth its queries (P^T dO, dS^T Q).
void keys_product(const BlockFootprint& footprint, int64_t n, Scalar alpha, const Scalar* a, int64_t lda,
                  const RightOperand& b, Scalar* c, int64_t ldc) {
  for (const kernels::StripGroup& g : footprint.keys)
    block_product(g.count, n, g.hi - g.lo, alpha, a + g.lo * lda + g.first, lda, true, b, g.lo, 0, c + g.first * ldc,
                  ldc, true);
}

// Copies a block's rows into the kept weights (or kept score_mod inputs) with
// non-temporal stores. The forward writes Nq x Nk floats per entry that only the backward
// reads back, long after they have left the caches: a plain store would first read each
// line from memory, and the block's own products would lose their cache to lines no one
// reads soon.
void stream_rows(const Scalar* from, int64_t ld_from, int64_t rows, int64_t cols, Scalar* to, int64_t ld_to) {
  for (int64_t r = 0; r < rows; ++r) {
    const Scalar* src = from + r * ld_from;
    Scalar* dst = to + r * ld_to;
    int64_t c = 0;
    for (; c < cols && reinterpret_cast<uintptr_t>(dst + c) % sizeof(kernels::Vec) != 0; ++c) dst[c] = src[c];
    for (; c + kernels::kLanes <= cols; c += kernels::kLanes)
      kernels::stream_vector(dst + c, kernels::load_vector(src + c));
    for (; c < cols; ++c) dst[c] = src[c];
  }
}

// Asks the caches for a [rows, cols] block (rows `ld` apart) ahead of its use.
void prefetch_rows(const Scalar* x, int64_t rows, int64_t cols, int64_t ld) {
  static const int64_t line = std::max<int64_t>(1, cpu_caches().line / int64_t(sizeof(Scalar)));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; c += line) __builtin_prefetch(x + r * ld + c);
}

// The keys [begin, end) the queries [q0, q1) of entry t need: from the first to the last
// mask tile not wholly hidden.
struct KeyRange {
  int64_t begin, end;
};
KeyRange key_range(const Problem& p, int64_t t, int64_t q0, int64_t q1) {
  const int64_t nk = p.dims.nk;
  if (!p.mask) return {0, nk};
  int64_t begin = nk, end = 0;
  for (int64_t k0 = 0; k0 < nk; k0 += kMaskTile) {
    const int64_t k1 = std::min(nk, k0 + kMaskTile);
    if (p.mask->classify(p.dims.batch_of(t), p.dims.head_of(t), q0, q1, k0, k1) != Block::hidden) {
      begin = std::min(begin, k0);
      end = k1;
    }
  }
  return begin < end ? KeyRange{begin, end} : KeyRange{0, 0};
}

// Where the forward keeps a query block's weights (and each kept score_mod input): the
// block's rows x cols, rows `cols` apart, from the start of its rows' share of the entry's
// [nq, nk] (only a single block of keys per query block is kept). Dense, not rows nk
// apart: a causal block's narrow rows then go to memory as one run, where with the
// entry's own row stride the stores of the first blocks came 2 KiB apart in runs of
// 256 bytes.
int64_t kept_block_offset(int64_t q0, int64_t nk) { return q0 * nk; }

// Where masked_scores keeps the input of each score_mod that reads scores: row-major
// blocks with rows `ld` apart (null for a mod that reads none, or when nothing is kept).
struct ModInputs {
  std::vector<Scalar*> blocks;
  int64_t ld = 0;
  bool kept = false;  // the forward's kept inputs, which only the backward reads back
  // One query block's inputs inside an entry's kept inputs (kept_block_offset).
  ModInputs block(int64_t q0, int64_t nk, int64_t cols) const {
    ModInputs shifted = *this;
    shifted.ld = cols;
    for (Scalar*& b : shifted.blocks)
      if (b) b += kept_block_offset(q0, nk);
    return shifted;
  }
};

// What the mask leaves of a block (kernels::block_footprint). Tracing it asks the mask
// about every strip of a mixed tile; a mask that reads neither batch nor head (or none) has
// one answer per block for all the entries a thread runs, traced once.
const BlockFootprint& footprint_of(const Problem& p, const ScoreBlock& b, Workspace& w) {
  const auto trace = [&] {
    return kernels::block_footprint(p.mask.get(), b.batch, b.head, b.q0, b.rows, b.k0, b.cols, kMaskTile);
  };
  if (p.mask && p.mask->reads_batch_or_head()) return w.footprint = trace();
  const auto [at, fresh] = w.footprints.try_emplace({b.q0, b.k0});
  if (fresh) at->second = trace();
  return at->second;
}

// The scores of one block after the score_mods and the mask: S = scale Q K^T, each mod in
// turn (its input kept in `inputs` when it reads scores), -inf where the mask hides a key.
// Mixed tiles leave their 0/1 visibility in w.keep.
void masked_scores(const Problem& p, const Scalar* q, const RightOperand& kt, const ScoreBlock& block,
                   const BlockFootprint& footprint, const ModInputs& inputs, Workspace& w) {
  const Dims& dims = p.dims;
  scores_product(footprint, block.cols, dims.d, p.scale, q + block.q0 * dims.ld_q(), dims.ld_q(), kt, block.k0,
                 block.s, block.ld);
  StridedMap s(block.s, block.rows, block.cols, Eigen::OuterStride<>(block.ld));
  for (size_t i = 0; i < p.mods.size(); ++i) {
    if (!inputs.blocks.empty() && inputs.blocks[i]) {
      if (inputs.kept) stream_rows(block.s, block.ld, block.rows, block.cols, inputs.blocks[i], inputs.ld);
      else StridedMap(inputs.blocks[i], block.rows, block.cols, Eigen::OuterStride<>(inputs.ld)) = s;
    }
    p.mods[i]->apply(block);
  }
  if (!p.mask) return;
  const int64_t q1 = block.q0 + block.rows;
  kernels::MatrixMap keep(w.keep.reserve(block.rows * block.cols), block.rows, block.cols);
  for (int64_t c0 = 0; c0 < block.cols; c0 += kMaskTile) {
    const int64_t width = std::min(kMaskTile, block.cols - c0), k0 = block.k0 + c0;
    const Block kind = p.mask->classify(block.batch, block.head, block.q0, q1, k0, k0 + width);
    if (kind == Block::hidden) {
      s.middleCols(c0, width).setConstant(kNegInf);
    } else if (kind == Block::mixed) {
      p.mask->fill_visible(block.batch, block.head, block.q0, block.rows, k0, width, keep.data() + c0, block.cols);
      for (int64_t r = 0; r < block.rows; ++r)
        for (int64_t c = c0; c < c0 + width; ++c)
          if (keep(r, c) == 0) s(r, c) = kNegInf;
    }
  }
}

// After an exp (or sigmoid) of masked scores: exactly 0 where the mask hid the key. (Eigen's
// vectorised exp clamps -inf to a tiny positive number, and select() would not vectorise.)
void zero_hidden(const Problem& p, const ScoreBlock& block, const Workspace& w) {
  if (!p.mask) return;
  StridedMap s(block.s, block.rows, block.cols, Eigen::OuterStride<>(block.ld));
  const kernels::ConstMatrixMap keep(w.keep.data(), block.rows, block.cols);
  const int64_t q1 = block.q0 + block.rows;
  for (int64_t c0 = 0; c0 < block.cols; c0 += kMaskTile) {
    const int64_t width = std::min(kMaskTile, block.cols - c0), k0 = block.k0 + c0;
    const Block kind = p.mask->classify(block.batch, block.head, block.q0, q1, k0, k0 + width);
    if (kind == Block::hidden) s.middleCols(c0, width).setZero();
    else if (kind == Block::mixed) s.middleCols(c0, width).array() *= keep.middleCols(c0, width).array();
  }
}

// sigmoid(s + bias), the weights of sigmoid attention (Ramapuram et al. 2024).
void sigmoid_weights(const Problem& p, const ScoreBlock& block, const Workspace& w) {
  StridedMap s(block.s, block.rows, block.cols, Eigen::OuterStride<>(block.ld));
  s.array() = Scalar(1) / (Scalar(1) + (-(s.array() + p.sigmoid_bias)).exp());
  zero_hidden(p, block, w);
}

// Per-row running state of the online softmax, and what the row statistics need.
struct RowState {
  Vector m, l;          // running max (the sink included) and sum of exp(s - m)
  Vector key_max;       // largest visible key score
  Vector key_sum;       // the part of l that keys contribute (l less the sink's)
  Vector t, u2, u3;     // sum e (s - m), sum e^2, sum e^3 over keys, e = exp(s - m)
  void reset(int64_t rows, Scalar sink, bool stats) {
    m = Vector::Constant(rows, sink);
    l = Vector::Constant(rows, sink == kNegInf ? Scalar(0) : Scalar(1));
    if (!stats) return;
    key_max = Vector::Constant(rows, kNegInf);
    key_sum = t = u2 = u3 = Vector::Zero(rows);
  }
};

// Folds one block of masked scores into the running state, row by row while the row is in
// the L1 cache: new max, exp, sum. Returns in `alpha` the share of what was summed so far
// that survives the new max.
void online_softmax(const Problem& p, const ScoreBlock& block, RowState& st, Vector& alpha, bool stats,
                    const Workspace& w) {
  StridedMap s(block.s, block.rows, block.cols, Eigen::OuterStride<>(block.ld));
  Vector block_max(block.rows);
  // e = exp(s - m) over row r in place, with m the new running max, and alpha(r).
  auto exponentiate = [&](int64_t r) {
    const Scalar m_new = std::max(st.m(r), block_max(r));
    if (m_new == kNegInf) {  // nothing visible yet
      s.row(r).setZero();
      alpha(r) = 1;
      return;
    }
    s.row(r).array() = (s.row(r).array() - m_new).exp();
    alpha(r) = st.m(r) == kNegInf ? Scalar(0) : std::exp(st.m(r) - m_new);
    st.m(r) = m_new;
  };
  // Every pass over the block reads it from the L2 cache; with no mask to apply between
  // the exp and the sum, and no statistics, each row takes its max, exp and sum in one
  // visit, from the L1.
  if (!p.mask && !stats) {
    for (int64_t r = 0; r < block.rows; ++r) {
      block_max(r) = block.cols ? s.row(r).maxCoeff() : kNegInf;
      exponentiate(r);
      st.l(r) = alpha(r) * st.l(r) + s.row(r).sum();
    }
    return;
  }
  for (int64_t r = 0; r < block.rows; ++r) block_max(r) = block.cols ? s.row(r).maxCoeff() : kNegInf;
  for (int64_t r = 0; r < block.rows; ++r) exponentiate(r);
  zero_hidden(p, block, w);
  for (int64_t r = 0; r < block.rows; ++r) {
    const auto e = s.row(r).array();
    const Scalar sum = e.sum();
    st.l(r) = alpha(r) * st.l(r) + sum;
    if (!stats) continue;
    // sum e (s - m) = sum e log e over the visible keys; in the frame of the new max the
    // earlier terms gain (m_old - m_new) each.
    const Scalar shift = alpha(r) > 0 ? std::log(alpha(r)) : Scalar(0);
    const Scalar e_log_e = (e > 0).select(e * e.max(std::numeric_limits<Scalar>::min()).log(), Scalar(0)).sum();
    st.t(r) = alpha(r) * (st.t(r) + shift * st.key_sum(r)) + e_log_e;
    st.key_sum(r) = alpha(r) * st.key_sum(r) + sum;
    st.u2(r) = alpha(r) * alpha(r) * st.u2(r) + e.square().sum();
    st.u3(r) = alpha(r) * alpha(r) * alpha(r) * st.u3(r) + e.cube().sum();
    st.key_max(r) = std::max(st.key_max(r), block_max(r));
  }
}

// Forward of entry t: O [nq, dv] and, for the softmax, L [nq]; the weights P [nq, nk]
// when `weights` is given, and the row statistics when `stats` is.
void forward_one(const Problem& p, int64_t t, const Scalar* q_all, const Scalar* k_all, const Scalar* v_all,
                 Scalar* o_all, Scalar* lse, Scalar* weights, const ModInputs& kept, Scalar* stats, Workspace& w) {
  const Dims& dims = p.dims;
  const int64_t ldv = dims.ld_v(), ldo = dims.ld_o(), kv = dims.kv_of(t);
  const Scalar* q = q_all + dims.q_offset(t);
  const Scalar* v = v_all + dims.v_offset(kv);
  Scalar* o = o_all + dims.o_offset(t);
  const RightOperand kt =
      transposed_operand(p.bf16_scores, k_all + dims.k_offset(kv), dims.nk, dims.d, dims.ld_k(), w.kt, w.kt16, w.kt_of, kv);
  const RightOperand vo = operand(p.bf16_heads, v, ldv, false, dims.nk, dims.dv, w.v16, &w.v_of, kv);
  RowState st;
  Vector alpha;
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0);
    const KeyRange range = key_range(p, t, q0, q0 + rows);
    const bool one_block = range.end - range.begin <= kKeyBlock;
    StridedMap O(o + q0 * ldo, rows, dims.dv, Eigen::OuterStride<>(ldo));
    // Kept weights are written only inside the key range: the backward reads no others.
    st.reset(rows, p.sink_of(t), stats != nullptr);
    alpha.resize(rows);
    kernels::MatrixMap acc(w.acc.reserve(rows * dims.dv), rows, dims.dv);
    if (!one_block && p.softmax()) acc.setZero();
    if (range.end == range.begin) O.setZero();
    for (int64_t k0 = range.begin; k0 < range.end; k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, range.end - k0);
      const ScoreBlock block{w.s.reserve(rows * cols), cols, rows, cols, dims.batch_of(t), dims.head_of(t), q0, k0};
      Scalar* kept_weights = weights ? weights + kept_block_offset(q0, dims.nk) : nullptr;
      const BlockFootprint& footprint = footprint_of(p, block, w);
      masked_scores(p, q, kt, block, footprint, kept.block(q0, dims.nk, cols), w);
      const bool first = k0 == range.begin;
      if (!p.softmax()) {  // sigmoid weights need no row statistics: O = sum of P V
        sigmoid_weights(p, block, w);
        if (kept_weights) stream_rows(block.s, block.ld, rows, cols, kept_weights, cols);
        queries_product(footprint, dims.dv, 1, block.s, block.ld, vo, k0, o + q0 * ldo, ldo, !first);
        continue;
      }
      online_softmax(p, block, st, alpha, stats != nullptr, w);
      if (one_block) {  // the max and sum are final: normalise in place and write O = P V
        StridedMap s(block.s, rows, cols, Eigen::OuterStride<>(block.ld));
        for (int64_t r = 0; r < rows; ++r) {  // each row kept while it is in the L1 cache
          if (st.l(r) > 0) s.row(r) *= 1 / st.l(r);
          if (kept_weights) stream_rows(block.s + r * block.ld, block.ld, 1, cols, kept_weights + r * cols, cols);
        }
        queries_product(footprint, dims.dv, 1, block.s, block.ld, vo, k0, o + q0 * ldo, ldo, false);
      } else {  // rescale the accumulator to the new row max, then add this block's P V
        acc.array().colwise() *= alpha;
        queries_product(footprint, dims.dv, 1, block.s, block.ld, vo, k0, acc.data(), dims.dv, true);
      }
    }
    if (!p.softmax()) continue;
    // l >= 1 wherever a key (or the sink) is visible: the row max contributes exp(0). A
    // query with nothing to see keeps zero weights, so zero output, as softmax gives.
    for (int64_t r = 0; r < rows; ++r) {
      const Scalar l = st.l(r), L = l == 0 ? kNegInf : st.m(r) + std::log(l);
      lse[q0 + r] = L;
      if (!one_block) O.row(r) = acc.row(r) / (l == 0 ? Scalar(1) : l);
      if (!stats) continue;
      Scalar* row = stats + (q0 + r) * kAttentionRowStats;
      const bool any = st.key_sum(r) > 0;
      row[0] = L;
      row[1] = st.key_max(r);
      // entropy of the key weights p = e / l: -sum p log p = -(t - log(l) key_sum) / l
      row[2] = any ? -(st.t(r) - std::log(l) * st.key_sum(r)) / l : 0;
      row[3] = any ? st.u2(r) / (l * l) : 0;
      row[4] = any ? st.u3(r) / (l * l * l) : 0;
    }
  }
  // Non-temporal stores are not ordered with other stores: fenced before another thread's
  // backward reads the weights.
  if (weights) std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Every tensor the backward's tasks add gradients to (TaskGradients), in this order: the
// sink, if any, then each score_mod's parameters in turn, `per_mod[i]` of them for mod i.
// Taken once, in the forward, so that the backward's gradients line up with the inputs the
// forward recorded.
struct TaskParameters {
  std::vector<Tensor> tensors;
  std::vector<size_t> per_mod;
};
TaskParameters task_parameters(const Problem& p) {
  TaskParameters out;
  if (p.sink.defined()) out.tensors.push_back(p.sink);
  for (const auto& mod : p.mods) {
    const std::vector<Tensor> own = mod->score_parameters();
    out.tensors.insert(out.tensors.end(), own.begin(), own.end());
    out.per_mod.push_back(own.size());
  }
  return out;
}

// One backward task's gradient slots: each score_mod's, and the sink's (null without one).
struct TaskSlots {
  std::vector<ParameterGrads> mods;
  Scalar* sink = nullptr;
};
TaskSlots task_slots(const TaskParameters& parameters, bool sink, TaskGradients& grads, int64_t task) {
  TaskSlots out;
  size_t next = 0;
  if (sink) out.sink = grads.slots(task, next++, 1)[0];
  for (size_t count : parameters.per_mod) {
    out.mods.push_back(grads.slots(task, next, count));
    next += count;
  }
  return out;
}

// Backward of entry t; dK and dV (of its key/value entry) and the parameter gradients are
// added to, dQ is written. With P (kept by the forward, or recomputed from L) and dO the
// output's gradient: dV += P^T dO, dP = dO V^T, dS' = P * (dP - D) with D = rowsum(dO * O)
// (for sigmoid weights dS' = dP * P (1 - P)); each score_mod turns dS' into the gradient of
// its input, last mod first; then dQ = scale dS K, dK += scale dS^T Q.
void backward_one(const Problem& p, int64_t t, const Scalar* q_all, const Scalar* k_all, const Scalar* v_all,
                  const Scalar* o_all, const Scalar* lse, const Scalar* weights, const ModInputs& kept,
                  const Scalar* go_all, Scalar* gq_all, Scalar* gk_all, Scalar* gv_all, const TaskSlots& slots,
                  Workspace& w) {
  const Dims& dims = p.dims;
  const int64_t ldq = dims.ld_q(), ldk = dims.ld_k(), ldv = dims.ld_v(), ldo = dims.ld_o(), kv = dims.kv_of(t);
  const Scalar* q = q_all + dims.q_offset(t);
  const Scalar* k = k_all + dims.k_offset(kv);
  const Scalar* v = v_all + dims.v_offset(kv);
  const Scalar* go = go_all + dims.o_offset(t);
  Scalar* gq = gq_all + dims.q_offset(t);
  Scalar* gk = gk_all + dims.k_offset(kv);
  Scalar* gv = gv_all + dims.v_offset(kv);
  const ConstStridedMap O(o_all + dims.o_offset(t), dims.nq, dims.dv, Eigen::OuterStride<>(ldo));
  const ConstStridedMap dO(go, dims.nq, dims.dv, Eigen::OuterStride<>(ldo));
  bool mods_read_scores = false;
  for (const auto& mod : p.mods) mods_read_scores = mods_read_scores || mod->reads_scores();
  // With the weights kept, the mods' inputs were kept too (run_flex): nothing to recompute.
  const bool recompute = !weights;
  const RightOperand kt =
      recompute ? transposed_operand(p.bf16_scores, k, dims.nk, dims.d, ldk, w.kt, w.kt16, w.kt_of, kv) : RightOperand{};
  const RightOperand vt = transposed_operand(p.bf16_scores, v, dims.nk, dims.dv, ldv, w.vt, w.vt16, w.vt_of, kv);
  const RightOperand ko = operand(p.bf16_heads, k, ldk, false, dims.nk, dims.d, w.k16, &w.k_of, kv);
  Vector D;
  if (p.softmax()) {
    D = (dO.array() * O.array()).rowwise().sum();
    // The sink is one more logit in each row's softmax with no value behind it: its weight
    // exp(sink - L) times (0 - D) is its gradient.
    if (p.sink.defined())
      for (int64_t i = 0; i < dims.nq; ++i)
        if (lse[i] != kNegInf) slots.sink[dims.head_of(t)] -= std::exp(p.sink_of(t) - lse[i]) * D(i);
  }
  for (int64_t q0 = 0; q0 < dims.nq; q0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, dims.nq - q0);
    const KeyRange range = key_range(p, t, q0, q0 + rows);
    // dQ's rows are written by their first key block (every row lies in one of its
    // groups), so they need no zeroing first, unless no key is visible at all.
    if (range.end == range.begin) {
      StridedMap(gq + q0 * ldq, rows, dims.d, Eigen::OuterStride<>(ldq)).setZero();
      continue;
    }
    // This block's queries and dO, the right-hand operands of dK and dV.
    const RightOperand qs = operand(p.bf16_heads, q + q0 * ldq, ldq, false, rows, dims.d, w.q16);
    const RightOperand gos = operand(p.bf16_heads, go + q0 * ldo, ldo, false, rows, dims.dv, w.go16);
    for (int64_t k0 = range.begin; k0 < range.end; k0 += kKeyBlock) {
      const int64_t cols = std::min(kKeyBlock, range.end - k0);
      kernels::MatrixMap S(w.s.reserve(rows * cols), rows, cols);
      const ScoreBlock scores{S.data(), cols, rows, cols, dims.batch_of(t), dims.head_of(t), q0, k0};
      ModInputs inputs;  // where each mod that reads scores finds its input for this block
      if (recompute && mods_read_scores) {
        w.mod_inputs.resize(p.mods.size());
        inputs.ld = cols;
        for (size_t i = 0; i < p.mods.size(); ++i)
          inputs.blocks.push_back(p.mods[i]->reads_scores() ? w.mod_inputs[i].reserve(rows * cols) : nullptr);
      } else {
        inputs = kept.block(q0, dims.nk, cols);
      }
      const BlockFootprint& footprint = footprint_of(p, scores, w);
      if (recompute) masked_scores(p, q, kt, scores, footprint, inputs, w);
      if (!weights && p.softmax()) {  // in the forward pass P = exp(S - L), exactly normalised
        for (int64_t r = 0; r < rows; ++r) {
          const Scalar L = lse[q0 + r];
          if (L == kNegInf) S.row(r).setZero();
          else S.row(r).array() = (S.row(r).array() - L).exp();
        }
        zero_hidden(p, scores, w);
      } else if (!weights) {
        sigmoid_weights(p, scores, w);
      }
      // Kept weights are read where they lie, their rows asked for first: dV's product reads
      // them down the columns, which from memory would wait on a cache miss per row. (A
      // copy into the block's buffer did the same for more: 1-3% slower.)
      const Scalar* P_data = weights ? weights + kept_block_offset(q0, dims.nk) : S.data();
      const int64_t ldp = cols;
      if (weights) prefetch_rows(P_data, rows, cols, ldp);
      const ConstStridedMap P(P_data, rows, cols, Eigen::OuterStride<>(ldp));
      keys_product(footprint, dims.dv, 1, P_data, ldp, gos, gv + k0 * ldv, ldv);
      kernels::MatrixMap dS(w.acc.reserve(rows * cols), rows, cols);  // dP, then dS in place
      scores_product(footprint, cols, dims.dv, 1, go + q0 * ldo, ldo, vt, k0, dS.data(), cols);
      if (p.softmax()) dS.array() = P.array() * (dS.array().colwise() - D.segment(q0, rows));
      else dS.array() *= P.array() * (1 - P.array());
      const ScoreBlock grad{dS.data(), cols, rows, cols, dims.batch_of(t), dims.head_of(t), q0, k0};
      for (size_t i = p.mods.size(); i-- > 0;) {
        const bool reads = p.mods[i]->reads_scores();
        const ScoreBlock input{reads ? inputs.blocks[i] : nullptr, inputs.ld, rows, cols, grad.batch, grad.head, q0, k0};
        p.mods[i]->backward(input, grad, slots.mods[i]);
      }
      queries_product(footprint, dims.d, p.scale, dS.data(), cols, ko, k0, gq + q0 * ldq, ldq,
                      k0 != range.begin);
      keys_product(footprint, dims.d, p.scale, dS.data(), cols, qs, gk + k0 * ldk, ldk);
    }
  }
}

[[noreturn]] void shape_error(const char* op, const std::string& why, const Tensor& q, const Tensor& k,
                              const Tensor& v) {
  throw std::invalid_argument(std::string(op) + ": " + why + "; got q " + shape_str(q.shape()) + ", k " +
                              shape_str(k.shape()) + ", v " + shape_str(v.shape()));
}

// [.., H, N, d] queries against [.., H_kv, N, d] keys and values (H_kv dividing H; rank 2
// is one head).
Dims check_shapes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, bool grouped) {
  if (q.dim() < 2 || k.dim() != q.dim() || v.dim() != q.dim())
    shape_error(op, "q, k and v need the same rank, at least 2", q, k, v);
  if (!grouped && (!std::equal(q.shape().begin(), q.shape().end() - 2, k.shape().begin()) ||
                   !std::equal(q.shape().begin(), q.shape().end() - 2, v.shape().begin())))
    shape_error(op, "q, k and v need the same leading axes", q, k, v);
  const int64_t heads = q.dim() >= 3 ? q.size(-3) : 1, kv_heads = k.dim() >= 3 ? k.size(-3) : 1;
  const auto lead = [](const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - std::min<int64_t>(3, x.dim())); };
  if (lead(k) != lead(q) || lead(v) != lead(q) || (v.dim() >= 3 && v.size(-3) != kv_heads))
    shape_error(op, "q, k and v need the same leading axes", q, k, v);
  if (kv_heads == 0 || heads % kv_heads != 0)
    shape_error(op, "the heads of k and v (axis -3) must divide the heads of q", q, k, v);
  if (q.size(-1) != k.size(-1)) shape_error(op, "q and k need the same width d_k", q, k, v);
  if (k.size(-2) != v.size(-2)) shape_error(op, "k and v need the same number of keys", q, k, v);
  return {shape_numel(lead(q)), heads, kv_heads, q.size(-2), k.size(-2), q.size(-1), v.size(-1), false};
}

Dims check_packed_shapes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                         int64_t kv_heads) {
  if (heads <= 0) shape_error(op, "heads must be positive, got " + std::to_string(heads), q, k, v);
  if (kv_heads <= 0 || heads % kv_heads != 0)
    shape_error(op, "kv_heads " + std::to_string(kv_heads) + " must divide heads " + std::to_string(heads), q, k, v);
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    shape_error(op, "with heads packed in the last axis, q, k and v must be [B, N, heads * d]", q, k, v);
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0))
    shape_error(op, "q, k and v need the same batch size", q, k, v);
  if (q.size(2) % heads != 0) shape_error(op, std::to_string(heads) + " heads do not divide the width of q", q, k, v);
  const int64_t d = q.size(2) / heads;
  if (k.size(2) != kv_heads * d)
    shape_error(op, "k must be [B, Nk, " + std::to_string(kv_heads) + " * " + std::to_string(d) + "]", q, k, v);
  if (k.size(1) != v.size(1)) shape_error(op, "k and v need the same number of keys", q, k, v);
  if (v.size(2) % kv_heads != 0)
    shape_error(op, std::to_string(kv_heads) + " heads do not divide the width of v", q, k, v);
  return {q.size(0), heads, kv_heads, q.size(1), k.size(1), d, v.size(2) / kv_heads, true};
}

// Which of this thread's products run in bf16 now.
void choose_bf16_products(Problem& p) {
  const AttentionProductPrecision precision = attention_product_precision(p.dims.nk, p.dims.d, p.dims.dv);
  p.bf16_scores = precision.scores == Precision::bf16;
  p.bf16_heads = precision.heads == Precision::bf16;
}

// Where q, k and v start among the data of the tensors they come in: three tensors, or one
// whose rows hold q's heads, then k's, then v's (flex_attention_qkv). Their gradients are
// laid out the same way.
template <class Data>
std::array<Data, 3> qkv_starts(const std::vector<Data>& data, const Dims& dims) {
  if (data.size() == 3) return {data[0], data[1], data[2]};
  return {data[0], data[0] + dims.heads * dims.d, data[0] + (dims.heads + dims.kv_heads) * dims.d};
}

std::vector<Tensor> saved_all(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) out.push_back(kernels::saved(x));
  return out;
}

// q, k and v as `tensors`: {q, k, v}, or {qkv} when dims.qkv_width is set.
FlexAttentionResult run_flex(const std::vector<Tensor>& tensors, const Dims& dims, const FlexAttentionOptions& options) {
  const char* op = dims.qkv_width ? "flex_attention_qkv" : "flex_attention";
  Problem p{dims, options.scale, {}, options.mask_mod, options.normalizer, options.sigmoid_bias, options.sink};
  choose_bf16_products(p);
  for (const auto& mod : options.score_mods)
    if (mod) p.mods.push_back(mod);
  if (p.sink.defined() && (p.sink.dim() != 1 || p.sink.size(0) != dims.heads))
    throw std::invalid_argument(std::string(op) + ": the sink must be [heads] = [" + std::to_string(dims.heads) +
                                "], got " + shape_str(p.sink.shape()));
  if (p.sink.defined() && !p.softmax())
    throw std::invalid_argument(std::string(op) + ": a sink is a softmax logit; sigmoid attention has none");
  if (options.row_stats && !p.softmax())
    throw std::invalid_argument(std::string(op) + ": row statistics describe a softmax; sigmoid weights have none");
  if (p.mask) p.mask->check_size(dims.batch, dims.heads, dims.nq, dims.nk);
  for (const auto& mod : p.mods) mod->check_heads(dims.heads);

  const Tensor& q = tensors[0];
  Shape out_shape = q.shape();
  out_shape.back() = dims.packed ? dims.heads * dims.dv : dims.dv;
  FlexAttentionResult result{Tensor::empty(out_shape), {}};
  Tensor lse = Tensor::empty({dims.entries(), dims.nq});
  if (options.row_stats) result.row_stats = Tensor::empty({dims.batch, dims.heads, dims.nq, kAttentionRowStats});
  const TaskParameters parameters = task_parameters(p);
  std::vector<Tensor> inputs = tensors;
  inputs.insert(inputs.end(), parameters.tensors.begin(), parameters.tensors.end());
  bool recorded = false;
  if (grad_enabled())
    for (const Tensor& t : inputs) recorded = recorded || t.requires_grad();
  // Only a backward can use the weights: under NoGradGuard, or with no input that needs a
  // gradient, they are not kept.
  Tensor weights = recorded && dims.nk <= kKeyBlock ? Tensor::empty({dims.entries(), dims.nq, dims.nk}) : Tensor();
  // Beside the weights, the input of each score_mod that reads scores (softcap's s, a
  // gain's s): the backward then recomputes no block at all, at the same memory per mod as
  // the weights take.
  std::vector<Tensor> mod_inputs(p.mods.size());
  for (size_t i = 0; i < p.mods.size(); ++i)
    if (weights.defined() && p.mods[i]->reads_scores()) mod_inputs[i] = Tensor::empty(weights.shape());
  // Entry t's kept inputs (none when nothing is kept).
  auto kept_of = [mod_inputs, nq = dims.nq, nk = dims.nk](int64_t t) {
    ModInputs kept;
    kept.kept = true;
    if (std::none_of(mod_inputs.begin(), mod_inputs.end(), [](const Tensor& x) { return x.defined(); })) return kept;
    for (Tensor x : mod_inputs) kept.blocks.push_back(x.defined() ? x.data() + t * nq * nk : nullptr);  // shares the storage
    return kept;
  };
  // One task per entry, in the order of their key/value entries: the query heads that
  // share K and V are neighbours in a thread's share, which transposes (or packs) them once
  // for all. Tasks go to whichever thread is free (parallel_tasks); an entry's result is
  // the same on any thread.
  const int64_t group = dims.group();
  std::vector<const Scalar*> data;
  for (const Tensor& x : tensors) data.push_back(x.data());
  // Named, not structured bindings: the lambda below captures them (Clang 14 cannot).
  const std::array<const Scalar*, 3> starts = qkv_starts(data, dims);
  const Scalar *q_data = starts[0], *k_data = starts[1], *v_data = starts[2];
  parallel_tasks(dims.entries(), dims.nq * dims.nk * (dims.d + dims.dv), [&](const auto& next) {
    Workspace w;
    for (int64_t task; next(task);) {
      const int64_t t = dims.entry_of(task / group, task % group);
      forward_one(p, t, q_data, k_data, v_data, result.output.data(), lse.data() + t * dims.nq,
                  weights.defined() ? weights.data() + t * dims.nq * dims.nk : nullptr, kept_of(t),
                  result.row_stats.defined() ? result.row_stats.data() + t * dims.nq * kAttentionRowStats : nullptr, w);
    }
  });
  result.output = record_op(
      op, result.output, inputs,
      [in = saved_all(tensors), o = kernels::saved(result.output), lse, weights, kept_of, parameters,
       forward = p](const Tensor& g) {
        // The backward's products take the precision of the thread that runs it, as matmul's do.
        Problem p = forward;
        choose_bf16_products(p);
        const Dims& dims = p.dims;
        std::vector<Tensor> out;
        std::vector<const Scalar*> data;
        std::vector<Scalar*> grad_data;
        for (const Tensor& x : in) {
          out.push_back(Tensor::empty(x.shape()));
          data.push_back(x.data());
          grad_data.push_back(out.back().data());
        }
        const std::array<const Scalar*, 3> starts = qkv_starts(data, dims);
        const std::array<Scalar*, 3> grad_starts = qkv_starts(grad_data, dims);
        const Scalar *q = starts[0], *k = starts[1], *v = starts[2];
        Scalar *gq = grad_starts[0], *gk = grad_starts[1], *gv = grad_starts[2];
        // One task per key/value entry: the query heads that share it add to its dK and dV
        // one after another, and each task adds to its own parameter gradients, summed in
        // task order below.
        const int64_t tasks = dims.batch * dims.kv_heads, group = dims.group();
        TaskGradients grads(parameters.tensors, tasks);
        parallel_tasks(tasks, 2 * group * dims.nq * dims.nk * (dims.d + dims.dv), [&](const auto& next) {
          Workspace w;
          for (int64_t task; next(task);) {
            const TaskSlots slots = task_slots(parameters, p.sink.defined(), grads, task);
            // This entry's dK and dV start at zero here, on the thread that adds to them,
            // and stay in its cache for the products that do.
            StridedMap(gk + dims.k_offset(task), dims.nk, dims.d, Eigen::OuterStride<>(dims.ld_k())).setZero();
            StridedMap(gv + dims.v_offset(task), dims.nk, dims.dv, Eigen::OuterStride<>(dims.ld_v())).setZero();
            for (int64_t member = 0; member < group; ++member) {
              const int64_t t = dims.entry_of(task, member);
              backward_one(p, t, q, k, v, o.data(), lse.data() + t * dims.nq,
                           weights.defined() ? weights.data() + t * dims.nq * dims.nk : nullptr, kept_of(t),
                           g.data(), gq, gk, gv, slots, w);
            }
          }
        });
        for (const Tensor& sum : grads.sums()) out.push_back(sum);
        return out;
      });
  if (result.row_stats.defined() && !dims.packed) {
    Shape stats_shape(q.shape().begin(), q.shape().end() - 1);
    stats_shape.push_back(kAttentionRowStats);
    result.row_stats = reshape(result.row_stats, stats_shape);
  }
  return result;
}
FlexAttentionOptions plain_options(Scalar scale, bool causal) {
  FlexAttentionOptions options;
  options.scale = scale;
  if (causal) options.mask_mod = causal_mask();
  return options;
}
}  // namespace

AttentionProductPrecision attention_product_precision(int64_t keys, int64_t d_k, int64_t d_v) {
  const auto of = [](int64_t width) {
    return kernels::attention_products_in_bf16(width) ? Precision::bf16 : Precision::float32;
  };
  return {of(std::min(keys, kKeyBlock)), of(std::min(d_k, d_v))};
}

FlexAttentionResult flex_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const FlexAttentionOptions& options) {
  if (options.heads < 0 || options.kv_heads < 0)
    throw std::invalid_argument("flex_attention: options.heads and options.kv_heads must be >= 0 (0: split layout), got " +
                                std::to_string(options.heads) + " and " + std::to_string(options.kv_heads) +
                                "; q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  const Dims dims = options.heads > 0 ? check_packed_shapes("flex_attention", q, k, v, options.heads,
                                                            options.kv_heads > 0 ? options.kv_heads : options.heads)
                                      : check_shapes("flex_attention", q, k, v, true);
  return run_flex({q, k, v}, dims, options);
}

FlexAttentionResult flex_attention_qkv(const Tensor& qkv, const FlexAttentionOptions& options) {
  const char* op = "flex_attention_qkv";
  const int64_t heads = options.heads, kv_heads = options.kv_heads > 0 ? options.kv_heads : options.heads;
  const auto refuse = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + "; got qkv " + shape_str(qkv.shape()) + " with heads " +
                                std::to_string(heads) + " and kv_heads " + std::to_string(kv_heads));
  };
  if (heads <= 0) refuse("options.heads must be positive");
  if (heads % kv_heads != 0) refuse("kv_heads must divide heads");
  if (qkv.dim() != 3) refuse("qkv must be [B, N, (heads + 2 kv_heads) * d]");
  const int64_t columns = heads + 2 * kv_heads;
  if (qkv.size(2) % columns != 0) refuse(std::to_string(columns) + " heads of q, k and v do not divide its width");
  const int64_t d = qkv.size(2) / columns;
  Dims dims{qkv.size(0), heads, kv_heads, qkv.size(1), qkv.size(1), d, d, true};
  dims.qkv_width = qkv.size(2);
  return run_flex({qkv}, dims, options);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, Scalar scale, bool causal) {
  return run_flex({q, k, v}, check_shapes("scaled_dot_product_attention", q, k, v, false), plain_options(scale, causal))
      .output;
}

Tensor packed_heads_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, Scalar scale,
                              bool causal) {
  return run_flex({q, k, v}, check_packed_shapes("packed_heads_attention", q, k, v, heads, heads),
                  plain_options(scale, causal))
      .output;
}

}  // namespace qkv
