// Sequence transduction tasks on random symbols.
//
// copy / reverse / sort: the source, a separator, then blanks where the answer goes:
//   x1 .. xL  SEP  _ .. _  [PAD]        L = (seq_len - 1) / 2; PAD only if seq_len is even
// The blanks are scored: their targets are x1..xL (copy), xL..x1 (reverse) or the xi in
// ascending order (sort). Token ids: 0 = blank/PAD, 1 = SEP, symbols 2..vocab-1 (for sort,
// the symbol's order is its id).
//
// shift: output[i] = input[i - shift] in place, the filler (id 0) for i < shift; every
// position is scored. Symbols 1..vocab-1. A model without position information cannot
// tell which token is `shift` places back, so this task measures positional encodings.
#pragma once

#include "tasks/task.h"

namespace qkv {

struct SequenceOptions {
  int64_t seq_len = 17;
  int64_t vocab = 32;
};

enum class SequenceMode { copy, reverse, sort };

class SequenceTask : public Task {
 public:
  SequenceTask(SequenceMode mode, SequenceOptions options);
  std::string name() const override;
  int64_t seq_len() const override { return options_.seq_len; }
  int64_t vocab_size() const override { return options_.vocab; }
  int64_t feature_dim() const override { return 0; }
  int64_t num_classes() const override { return options_.vocab; }
  double chance_accuracy() const override { return 1.0 / static_cast<double>(options_.vocab - 2); }

  int64_t source_len() const { return (options_.seq_len - 1) / 2; }  // L

  static constexpr int64_t kBlank = 0;
  static constexpr int64_t kSeparator = 1;
  static constexpr int64_t kFirstSymbol = 2;

 protected:
  Batch generate(int64_t batch_size, Generator& gen) const override;

 private:
  SequenceMode mode_;
  SequenceOptions options_;
};

struct ShiftOptions {
  int64_t seq_len = 16;
  int64_t vocab = 32;
  int64_t shift = 1;
};

class ShiftTask : public Task {
 public:
  explicit ShiftTask(ShiftOptions options);
  std::string name() const override { return "shift"; }
  int64_t seq_len() const override { return options_.seq_len; }
  int64_t vocab_size() const override { return options_.vocab; }
  int64_t feature_dim() const override { return 0; }
  int64_t num_classes() const override { return options_.vocab; }
  double chance_accuracy() const override;
  int64_t shift() const { return options_.shift; }

  static constexpr int64_t kFiller = 0;

 protected:
  Batch generate(int64_t batch_size, Generator& gen) const override;

 private:
  ShiftOptions options_;
};

}  // namespace qkv
