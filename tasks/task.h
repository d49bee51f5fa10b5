// Task: a toy problem that generates its own batches from a seeded Generator, so a run
// needs no data files and held-out evaluation is just another seed. Token tasks fill
// Batch::tokens; continuous tasks (pixels) fill Batch::features instead. Every task
// scores a per-position class: targets [B, N] hold a class id, or kIgnore where the
// position is not scored (pass kIgnore as cross_entropy's ignore_index).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/ops.h"
#include "core/tensor.h"

namespace qkv {

class Generator;

// Target of an unscored position; the same value as PyTorch's default ignore_index.
constexpr int64_t kIgnore = -100;

struct Batch {
  Indices tokens;   // [B, N] token ids, for token tasks (empty for continuous tasks)
  Tensor features;  // [B, N, F], for continuous tasks (undefined for token tasks)
  Indices targets;  // [B, N] class ids, kIgnore where not scored
};

class Task {
 public:
  virtual ~Task() = default;
  // One batch of fresh examples; all randomness comes from gen. batch_size < 1 throws
  // std::invalid_argument.
  Batch sample(int64_t batch_size, Generator& gen) const;
  virtual std::string name() const = 0;
  virtual int64_t seq_len() const = 0;      // N, the positions the model sees
  virtual int64_t vocab_size() const = 0;   // embedding rows; 0 for continuous tasks
  virtual int64_t feature_dim() const = 0;  // F; 0 for token tasks
  virtual int64_t num_classes() const = 0;  // width of the output layer
  // Expected accuracy over scored positions of a guesser that never looks at the input
  // and picks uniformly among the classes a position can hold (a position with one
  // possible class, e.g. shift's filler, counts as always right). The floor a model
  // must beat to show it learned anything.
  virtual double chance_accuracy() const = 0;

  bool continuous() const { return feature_dim() > 0; }

 protected:
  // sample() without the argument check.
  virtual Batch generate(int64_t batch_size, Generator& gen) const = 0;
};

// An option a task cannot work with. option() names it ("pairs"); expected() and found()
// let the config loader rephrase it under the key's JSON path (task.pairs).
class TaskOptionError : public std::invalid_argument {
 public:
  TaskOptionError(const std::string& task, std::string option, std::string expected,
                  std::string found);
  const std::string& option() const { return option_; }
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

 private:
  std::string option_, expected_, found_;
};

// The names make_task accepts, in the order the docs list them.
const std::vector<std::string>& task_names();

// Builds a task from its name and an object of its options (seq_len, vocab, pairs,
// shift, image_size, shapes, as each task's Options struct documents). An absent option
// takes the Options struct's default; an option the task does not use, a value of the
// wrong type or out of range throws TaskOptionError; an unknown name throws
// std::invalid_argument listing the known ones.
std::unique_ptr<Task> make_task(const std::string& name, const nlohmann::json& options);

// `count` batches drawn from a fresh Generator(seed): a fixed held-out set, identical on
// every call with the same seed.
std::vector<Batch> held_out_batches(const Task& task, int64_t count, int64_t batch_size,
                                    uint64_t seed);

}  // namespace qkv
