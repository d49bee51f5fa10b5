// score_mod and mask_mod: what the fused attention kernel (flex_attention, core/flex_attention.h)
// lets a caller change without materialising the [Nq, Nk] scores, after PyTorch's
// FlexAttention. A score_mod maps each scaled score s = scale q_i . k_j of entry (batch,
// head) to f(s, batch, head, i, j; theta), with its derivative and the gradient of its own
// parameters theta; a mask_mod says which keys each query may see.
//
// Both work on blocks: the kernel hands over a block of scores at a time, so a mod can use
// vector instructions (softcap's tanh) and a mask can say at once that a whole block is
// hidden, which the kernel then skips. PointwiseScoreMod (layers/score_mods.h) turns one
// function of a single score into such a block mod.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace qkv {

// A block of scores of one attention entry: rows are queries q0 .. q0 + rows - 1, columns
// keys k0 .. k0 + cols - 1, stored row-major with rows `ld` apart.
struct ScoreBlock {
  Scalar* s;
  int64_t ld, rows, cols;
  int64_t batch, head, q0, k0;
  Scalar& at(int64_t r, int64_t c) const { return s[r * ld + c]; }
};

// Where a score_mod adds the gradients of its parameters: slot p points to a buffer shaped
// as the mod's p-th parameter (score_parameters() order). Each attention entry's task has its
// own buffers (TaskGradients), summed in a fixed order afterwards, so the result does not
// depend on the number of threads.
struct ParameterGrads {
  std::vector<Scalar*> slots;
  Scalar* operator[](size_t p) const { return slots[p]; }
};

// Those buffers for `tasks` tasks that run on any threads: each task adds to a block of
// slots of its own (one per parameter, shaped as it, zeroed), and sums() adds the blocks up
// in task order, so the gradients do not depend on which thread ran which task. Only the
// parameters' shapes are kept.
class TaskGradients {
 public:
  TaskGradients(const std::vector<Tensor>& parameters, int64_t tasks);
  // Task `task`'s slots for parameters [first, first + count).
  ParameterGrads slots(int64_t task, size_t first, size_t count);
  // Each parameter's gradient: its slots summed over the tasks, in task order.
  std::vector<Tensor> sums() const;

 private:
  std::vector<Shape> shapes_;
  std::vector<int64_t> offsets_;  // of each parameter inside a task's block
  int64_t tasks_, width_ = 0;     // width_: one task's block
  std::vector<Scalar> blocks_;    // task t's block from t * width_ on
};

// The fused kernel and apply_score_mod (layers/score_mods.h) call apply() and backward()
// from several threads at once, each on its own blocks and gradient slots: a mod writes
// nowhere else.
class ScoreMod {
 public:
  virtual ~ScoreMod() = default;
  // s <- f(s) over the block, in place.
  virtual void apply(const ScoreBlock& block) const = 0;
  // Backward: `grad` holds dL/df(s) and becomes dL/ds in place; dL/dtheta is added to
  // `grads`. `scores` holds the s the forward was given (same positions as grad); its data
  // pointer is null when reads_scores() is false.
  virtual void backward(const ScoreBlock& scores, const ScoreBlock& grad, const ParameterGrads& grads) const = 0;
  // False when neither dL/ds nor dL/dtheta depends on s (an added bias): the kernel then
  // needs not recompute the scores for this mod.
  virtual bool reads_scores() const { return true; }
  // theta: the tensors whose gradients backward() adds to, in slot order.
  virtual std::vector<Tensor> score_parameters() const { return {}; }
  // Throws std::invalid_argument, naming the mod's number of heads and the attention's,
  // when the mod holds values per head for another number of heads than the attention's
  // `heads` (query heads). The attention asks before it starts. The default accepts any.
  virtual void check_heads(int64_t heads) const;
};

// Which keys each query may see. Positions are the entry's batch and head, query i, key j.
class MaskMod {
 public:
  enum class Block { visible, hidden, mixed };
  virtual ~MaskMod() = default;
  virtual bool visible(int64_t batch, int64_t head, int64_t i, int64_t j) const = 0;
  // What the queries [q0, q1) see of the keys [k0, k1). The default, `mixed`, makes the
  // kernel ask visible() for each pair; a mask that can tell whole blocks lets the kernel
  // skip the hidden ones (a causal step then does about half the work).
  virtual Block classify(int64_t batch, int64_t head, int64_t q0, int64_t q1, int64_t k0, int64_t k1) const;
  // keep[r * ld + c] = 1 where query q0 + r sees key k0 + c, else 0, for a mixed block. The
  // default asks visible() per pair; a mask that knows its rows (a band) fills them at once.
  virtual void fill_visible(int64_t batch, int64_t head, int64_t q0, int64_t rows, int64_t k0, int64_t cols,
                            Scalar* keep, int64_t ld) const;
  // False when the answers of visible(), classify() and fill_visible() depend on the
  // positions alone, never on the batch or the head (causal, windows, prefixes,
  // documents): each thread of the kernel then traces what a block leaves once per call,
  // not once per batch row and head.
  virtual bool reads_batch_or_head() const { return true; }
  // Throws std::invalid_argument, naming the mask's size and the attention's, when the mask
  // cannot answer for `batch` rows of `heads` heads, `query_length` queries and
  // `key_length` keys (a key padding of another batch or length, document ids for fewer
  // positions). The attention asks before it starts. The default accepts any size.
  virtual void check_size(int64_t batch, int64_t heads, int64_t query_length, int64_t key_length) const;
};

}  // namespace qkv
