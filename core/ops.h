// Every differentiable op of qkv. Each is defined next to its backward in core/ops/*.cpp
// (one family per file). Shapes are checked on every call: a mismatch throws
// std::invalid_argument naming the op and both shapes. Negative axes count from the end.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/named_enum.h"
#include "core/precision.h"
#include "core/score_mod.h"
#include "core/tensor.h"

namespace qkv {

class Generator;

// ---- elementwise (core/ops/elementwise.cpp); binary ops broadcast as NumPy does ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, Scalar b);
Tensor mul(const Tensor& a, Scalar b);
Tensor rsub(Scalar a, const Tensor& b);  // a - b
Tensor rdiv(Scalar a, const Tensor& b);  // a / b
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, Scalar exponent);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);  // gradient sign(x), 0 at 0
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);  // gradient 0 at 0, as PyTorch
Tensor gelu(const Tensor& x);  // exact: x * Phi(x), as PyTorch's default
Tensor clamp(const Tensor& x, Scalar low, Scalar high);  // gradient 1 inside [low, high]

// Broadcast shape of two shapes, or invalid_argument naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sums `grad` down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- matmul (core/ops/matmul.cpp) ----
// [.., n, k] x [.., k, m] -> [.., n, m], leading dims broadcast; 1-D operands are not
// accepted (use reshape). transpose_a/b read an operand as its last two axes swapped. A
// transposed A is read in place; a transposed B is copied row by row into a scratch buffer
// first when the product runs on direct_gemm (which reads B's rows), and packed like any
// other operand when it runs on packed_gemm (core/ops/gemm_dispatch.h says which).
struct MatmulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
  Scalar alpha = 1;  // C = alpha op(A) op(B), as BLAS's alpha: a scale at no extra pass
};
Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions options = {});
// x W + b over the last axis: x [.., in], weight [in, out], bias [out] or undefined. One
// GEMM with the bias added in place; the same numbers as add(matmul(x, W), b).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// The precision an [m, k] x [k, n] product of matmul or linear called on this thread now
// runs in: bf16 where matmul_precision() asks for it, the product is wide and long enough
// to repay rounding its operands and this CPU's bf16 kernel is the faster one
// (core/ops/gemm_dispatch.h), else float32.
Precision product_precision(int64_t m, int64_t n, int64_t k);

// ---- normalisation (core/ops/norm.cpp) ----
// (x - mean) / sqrt(var + eps) * gain + bias over the last axis, population variance;
// gain and bias [d]. One op with its own backward (the composition makes a dozen tensors).
Tensor layer_norm(const Tensor& x, const Tensor& gain, const Tensor& bias, Scalar eps);

// ---- shape (core/ops/shape.cpp) ----
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one -1 is inferred
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& order);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end);  // [start, end)
Tensor unsqueeze(const Tensor& x, int64_t axis);  // a view
Tensor squeeze(const Tensor& x, int64_t axis);    // a view; the axis must have size 1
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast to shape (copies)

// ---- reductions (core/ops/reduce.cpp) ----
Tensor sum(const Tensor& x);  // all elements, rank 0
Tensor sum(const Tensor& x, int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t axis, bool keepdim = false);
// Largest value along axis; the gradient flows to the first position holding it.
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);
// Position of the largest value along axis (the first, on ties), e.g. the predicted class
// of logits [.., C] with axis -1; an index carries no gradient.
struct Indices;
Indices argmax(const Tensor& x, int64_t axis = -1, bool keepdim = false);
// Population variance (divides by n, as layer norm uses) unless unbiased.
Tensor var(const Tensor& x, int64_t axis, bool keepdim = false, bool unbiased = false);

// ---- softmax (core/ops/softmax.cpp), along the last axis ----
// Numerically stable (subtracts the row max). A row whose entries are all -inf (every key
// masked) gives all-zero weights and passes zero gradient: documented, never NaN.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);  // an all -inf row gives -inf and zero gradient

// ---- fused attention (core/ops/attention.cpp) ----
// softmax(scale * q k^T) v over q [.., Nq, d_k], k [.., Nk, d_k], v [.., Nk, d_v] with the
// same leading axes; causal hides key j from query i when j > i. Computed block by block
// (FlashAttention), so beyond 512 keys the [Nq, Nk] weights are never stored; up to 512
// keys the forward keeps them for the backward (only when a backward will run), sparing it
// a recomputation. layers/attention_function.h chooses it when nobody asks for the weights.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, Scalar scale,
                                    bool causal = false);
// The same for `heads` heads packed side by side in the last axis, as a linear layer writes
// them: q [B, Nq, heads * d_k], k [B, Nk, heads * d_k], v [B, Nk, heads * d_v] give
// [B, Nq, heads * d_v]. Equal to splitting the heads into [B, heads, N, d], attending and
// merging them back, without the permutes (multi-head attention takes this one).
Tensor packed_heads_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, Scalar scale,
                              bool causal = false);

// Which products of the fused attention run in bf16 on this thread now (core/precision.h),
// each class by the width of its output: those into a block of scores (q k^T and dO v^T,
// as wide as a block of up to 512 keys, or all of them) and those as wide as a head
// (P v, dS k and the products into dK and dV, with heads of d_k and d_v). A narrower
// output leaves part of every bf16 panel empty (kernels::attention_products_in_bf16).
struct AttentionProductPrecision {
  Precision scores, heads;
};
AttentionProductPrecision attention_product_precision(int64_t keys, int64_t d_k, int64_t d_v);

// The general fused kernel both of the above are cases of: scores s = scale q.k, then each
// score_mod in turn, keys hidden by the mask_mod (core/score_mod.h, core/masks.h), then
// softmax or sigmoid weights, then weights v. Gradients flow to q, k, v, the sink and every
// score_mod parameter; none of them needs the [Nq, Nk] scores stored. A query that sees no
// key (and no sink) gets zero weights and a zero output, never NaN.
enum class AttentionNormalizer {
  softmax,  // weights = softmax over the keys (and the sink, when there is one)
  sigmoid,  // weights = sigmoid(s + sigmoid_bias) each on its own (Ramapuram et al. 2024)
};
template <>
struct EnumNames<AttentionNormalizer> {
  static constexpr std::array<std::pair<AttentionNormalizer, std::string_view>, 2> table{
      {{AttentionNormalizer::softmax, "softmax"}, {AttentionNormalizer::sigmoid, "sigmoid"}}};
};
// Per query row, when asked: logsumexp L, the largest visible score, the entropy of the
// key weights, sum w^2 and sum w^3 (what the softmax Jacobian's norm needs).
constexpr int64_t kAttentionRowStats = 5;
struct FlexAttentionOptions {
  Scalar scale = 1;
  std::vector<std::shared_ptr<const ScoreMod>> score_mods;
  std::shared_ptr<const MaskMod> mask_mod;  // null: every key visible
  AttentionNormalizer normalizer = AttentionNormalizer::softmax;
  Scalar sigmoid_bias = 0;  // sigmoid: added to every score, e.g. -log(Nk)
  // [heads]: a learnable logit per head in every row's softmax with no value behind it
  // (an attention sink, "softmax off by one"): rows may then give keys less than weight 1.
  Tensor sink;
  // Layout: 0 means q [.., H, Nq, d], k and v [.., H_kv, Nk, d] (rank 2 is one head);
  // heads > 0 means packed q [B, Nq, heads * d], k and v [B, Nk, kv_heads * d]. H_kv (or
  // kv_heads, 0 meaning heads) must divide H: grouped-query attention.
  int64_t heads = 0;
  int64_t kv_heads = 0;
  bool row_stats = false;  // also return the row statistics (softmax only)
};
struct FlexAttentionResult {
  Tensor output;     // [.., H, Nq, d_v], or packed [B, Nq, heads * d_v]
  Tensor row_stats;  // [.., H, Nq, kAttentionRowStats] (packed: [B, H, Nq, ..]); if asked
};
FlexAttentionResult flex_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const FlexAttentionOptions& options);
// The same with q, k and v packed side by side in one tensor, as one linear layer of three
// times the width writes them: qkv [B, N, (heads + 2 kv_heads) * d], q's heads first, then
// k's, then v's, read in place; options.heads must be set. The gradient is one tensor of
// qkv's shape. MultiHeadAttention's self-attention takes it in bf16 (layers/attention.h).
FlexAttentionResult flex_attention_qkv(const Tensor& qkv, const FlexAttentionOptions& options);

// ---- indexing and masking (core/ops/index.cpp) ----
// Integer indices with a shape, for embedding lookups and class targets.
struct Indices {
  std::vector<int64_t> values;
  Shape shape;
  static Indices from(std::vector<int64_t> values, Shape shape);  // checks the count
};
// out[..., :] = table[indices[...], :]; the backward scatter-adds into the rows.
Tensor embedding(const Tensor& table, const Indices& indices);
// Where mask (broadcast to x's shape) is nonzero the output is `value` and the gradient 0.
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity when
// !training or p == 0.
Tensor dropout(const Tensor& x, Scalar p, Generator& gen, bool training = true);

// ---- losses (core/ops/loss.cpp) ----
constexpr int64_t kNoIgnoreIndex = std::numeric_limits<int64_t>::min();
// logits [.., C], targets of logits' shape without the last axis; mean over the targets
// that are not ignore_index (fused log-softmax).
Tensor cross_entropy(const Tensor& logits, const Indices& targets,
                     int64_t ignore_index = kNoIgnoreIndex);
Tensor mse_loss(const Tensor& prediction, const Tensor& target);  // mean of squares

}  // namespace qkv
