#include "layers/score_mods.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "layers/alibi.h"

namespace qkv {
namespace {
using BlockMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using BlockMap = Eigen::Map<BlockMatrix, 0, Eigen::OuterStride<>>;
BlockMap map(const ScoreBlock& b) { return BlockMap(b.s, b.rows, b.cols, Eigen::OuterStride<>(b.ld)); }
using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

// A term that depends on the offset i - j only, added to a block: along row r the offsets
// fall by one per key, so every row is a stretch of one vector of rows + cols - 1 values,
// by_offset[m] for i - j = q0 - k0 + rows - 1 - m, and row r reads by_offset[rows - 1 - r ..].
template <class Term>
void add_by_offset(const ScoreBlock& b, const Term& term) {
  thread_local Array by_offset;
  by_offset.resize(b.rows + b.cols - 1);
  const int64_t top = b.q0 - b.k0 + b.rows - 1;
  for (int64_t m = 0; m < by_offset.size(); ++m) by_offset(m) = term(top - m);
  BlockMap s = map(b);
  for (int64_t r = 0; r < b.rows; ++r) s.row(r).array() += by_offset.segment(b.rows - 1 - r, b.cols).transpose();
}

// Its backward for a learned term: the gradient summed along each diagonal (one offset),
// then handed to `add(offset, sum)`.
template <class Add>
void sum_by_offset(const ScoreBlock& g, const Add& add) {
  thread_local Array by_offset;
  by_offset.setZero(g.rows + g.cols - 1);
  const BlockMap grad = map(g);
  for (int64_t r = 0; r < g.rows; ++r) by_offset.segment(g.rows - 1 - r, g.cols) += grad.row(r).array().transpose();
  const int64_t top = g.q0 - g.k0 + g.rows - 1;
  for (int64_t m = 0; m < by_offset.size(); ++m) add(top - m, by_offset(m));
}

// The blocks of materialised scores [.., H, Nq, Nk]: one per batch row and head.
struct Entries {
  int64_t batch, heads, nq, nk;
};
Entries entries_of(const Tensor& scores) {
  if (scores.dim() < 2)
    throw std::invalid_argument("apply_score_mod: scores must be [.., Nq, Nk], got " + shape_str(scores.shape()));
  const int64_t heads = scores.dim() >= 3 ? scores.size(-3) : 1;
  const int64_t nq = scores.size(-2), nk = scores.size(-1);
  return {heads * nq * nk > 0 ? scores.numel() / (heads * nq * nk) : 0, heads, nq, nk};
}
ScoreBlock block_of(Tensor& t, const Entries& e, int64_t entry) {
  return {t.data() + entry * e.nq * e.nk, e.nk, e.nq, e.nk, entry / e.heads, entry % e.heads, 0, 0};
}
}  // namespace

Tensor apply_score_mod(const Tensor& scores, std::shared_ptr<const ScoreMod> mod) {
  const Entries e = entries_of(scores);
  mod->check_heads(e.heads);
  Tensor out = scores.clone();
  // One task per entry, on the threads as the fused kernel runs its blocks (a mod's
  // contract: it writes only to its block and its gradient slots).
  parallel_tasks(e.batch * e.heads, e.nq * e.nk, [&](const auto& next) {
    for (int64_t t; next(t);) mod->apply(block_of(out, e, t));
  });
  std::vector<Tensor> inputs{scores};
  const std::vector<Tensor> parameters = mod->score_parameters();
  inputs.insert(inputs.end(), parameters.begin(), parameters.end());
  // The scores are kept, and copied for the backward (a buffer of its own, not the
  // caller's tensor), only for a mod that reads them.
  const bool reads = mod->reads_scores();
  Tensor kept = reads ? scores.detach() : Tensor();
  return record_op("score_mod", out, inputs, [s = std::move(kept), reads, mod, e, parameters](const Tensor& g) {
    Tensor gs = g.clone(), in = reads ? s.clone() : Tensor();
    const int64_t entries = e.batch * e.heads;
    TaskGradients parameter_grads(parameters, entries);
    parallel_tasks(entries, e.nq * e.nk, [&](const auto& next) {
      for (int64_t t; next(t);) {
        const ScoreBlock grad = block_of(gs, e, t);
        ScoreBlock input = grad;  // the same positions; the scores' data, or none
        input.s = reads ? in.data() + t * e.nq * e.nk : nullptr;
        mod->backward(input, grad, parameter_grads.slots(t, 0, parameters.size()));
      }
    });
    std::vector<Tensor> out{gs};
    for (const Tensor& sum : parameter_grads.sums()) out.push_back(sum);
    return out;
  });
}

namespace {
// A mod's values per head (or one for every head) against the attention's heads.
void check_per_head(const char* mod, int64_t values, int64_t heads) {
  if (values != 1 && values != heads)
    throw std::invalid_argument(std::string(mod) + ": holds values for " + std::to_string(values) +
                                " heads, the attention has " + std::to_string(heads));
}
}  // namespace

void HeadScaleMod::check_heads(int64_t heads) const { check_per_head("HeadScaleMod", parameter_.numel(), heads); }
void RelativeBiasMod::check_heads(int64_t heads) const { check_per_head("RelativeBiasMod", table_.size(0), heads); }
void AlibiMod::check_heads(int64_t heads) const {
  check_per_head("AlibiMod", static_cast<int64_t>(slopes_.size()), heads);
}

Scalar HeadScaleMod::gain(int64_t head) const {
  const Scalar p = parameter_.data()[parameter_.numel() == 1 ? 0 : head];
  return exponential_ ? std::exp(p) : p;
}

void HeadScaleMod::apply(const ScoreBlock& block) const { map(block) *= gain(block.head); }

void HeadScaleMod::backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const {
  // In the forward pass f = g s: df/dg = s (and dg/dp = g when g = exp(p)), df/ds = g.
  const Scalar g = gain(grad.head);
  const Scalar dg = (map(grad).array() * map(scores).array()).sum();
  grads[0][parameter_.numel() == 1 ? 0 : grad.head] += exponential_ ? dg * g : dg;
  map(grad) *= g;
}

RelativeBiasMod::RelativeBiasMod(const RelativePositionBias& bias) : table_(bias.table()), reach_(bias.reach()) {
  for (int64_t offset = -reach_; offset <= reach_; ++offset) buckets_.push_back(bias.bucket(offset, 0));
}

int64_t RelativeBiasMod::bucket(int64_t offset) const { return buckets_[std::clamp(offset, -reach_, reach_) + reach_]; }

void RelativeBiasMod::apply(const ScoreBlock& b) const {
  const Scalar* table = table_.data() + (table_.size(0) == 1 ? 0 : b.head) * table_.size(1);
  add_by_offset(b, [&](int64_t offset) { return table[bucket(offset)]; });
}

void RelativeBiasMod::backward(const ScoreBlock&, const ScoreBlock& g, const ParameterGrads& grads) const {
  // f = s + R[h, bucket(i - j)]: df/ds = 1, and each score adds its gradient to its bucket.
  Scalar* table = grads[0] + (table_.size(0) == 1 ? 0 : g.head) * table_.size(1);
  sum_by_offset(g, [&](int64_t offset, Scalar sum) { table[bucket(offset)] += sum; });
}

AlibiMod::AlibiMod(int64_t heads) {
  for (double m : alibi_slopes(heads)) slopes_.push_back(static_cast<Scalar>(m));
}

void AlibiMod::apply(const ScoreBlock& b) const {
  const Scalar m = slopes_[slopes_.size() == 1 ? 0 : b.head];
  add_by_offset(b, [m](int64_t offset) { return -m * static_cast<Scalar>(std::abs(offset)); });
}

SoftcapMod::SoftcapMod(Scalar cap) : cap_(cap) {
  if (!(cap > 0)) throw std::invalid_argument("SoftcapMod: the cap must be positive, got " + std::to_string(cap));
}

void SoftcapMod::apply(const ScoreBlock& block) const {
  auto s = map(block).array();
  s = cap_ * (s / cap_).tanh();
}

void SoftcapMod::backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads&) const {
  // In the forward pass f = c tanh(s / c): df/ds = 1 - tanh(s / c)^2.
  map(grad).array() *= 1 - (map(scores).array() / cap_).tanh().square();
}

}  // namespace qkv
