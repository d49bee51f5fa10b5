#include "tasks/sequence_tasks.h"

#include <algorithm>
#include <string>

#include "core/generator.h"

namespace qkv {

SequenceTask::SequenceTask(SequenceMode mode, SequenceOptions options)
    : mode_(mode), options_(options) {
  if (options_.seq_len < 3)
    throw TaskOptionError(name(), "seq_len", "at least 3 (one symbol, SEP, one answer)",
                          std::to_string(options_.seq_len));
  if (options_.vocab < 4)
    throw TaskOptionError(name(), "vocab", "at least 4 (blank, SEP and 2 symbols)",
                          std::to_string(options_.vocab));
}

std::string SequenceTask::name() const {
  switch (mode_) {
    case SequenceMode::copy: return "copy";
    case SequenceMode::reverse: return "reverse";
    case SequenceMode::sort: return "sort";
  }
  return "sequence";
}

Batch SequenceTask::generate(int64_t batch_size, Generator& gen) const {
  const int64_t n = options_.seq_len, len = source_len();
  std::vector<int64_t> tokens(static_cast<size_t>(batch_size * n), kBlank);
  std::vector<int64_t> targets(tokens.size(), kIgnore);
  for (int64_t b = 0; b < batch_size; ++b) {
    int64_t* row = tokens.data() + b * n;
    int64_t* answer = targets.data() + b * n + len + 1;
    for (int64_t i = 0; i < len; ++i) row[i] = gen.integer(kFirstSymbol, options_.vocab);
    row[len] = kSeparator;
    std::copy(row, row + len, answer);
    if (mode_ == SequenceMode::reverse) std::reverse(answer, answer + len);
    if (mode_ == SequenceMode::sort) std::sort(answer, answer + len);
  }
  return Batch{.tokens = Indices::from(std::move(tokens), {batch_size, n}),
               .features = {},
               .targets = Indices::from(std::move(targets), {batch_size, n})};
}

ShiftTask::ShiftTask(ShiftOptions options) : options_(options) {
  if (options_.seq_len < 2)
    throw TaskOptionError("shift", "seq_len", "at least 2", std::to_string(options_.seq_len));
  if (options_.vocab < 3)
    throw TaskOptionError("shift", "vocab", "at least 3 (filler and 2 symbols)",
                          std::to_string(options_.vocab));
  if (options_.shift < 0 || options_.shift >= options_.seq_len)
    throw TaskOptionError("shift", "shift",
                          "in [0, seq_len) = [0, " + std::to_string(options_.seq_len) + ")",
                          std::to_string(options_.shift));
}

double ShiftTask::chance_accuracy() const {
  // The first `shift` targets are always the filler; the rest are uniform symbols.
  const double n = static_cast<double>(options_.seq_len), k = static_cast<double>(options_.shift);
  return (k + (n - k) / static_cast<double>(options_.vocab - 1)) / n;
}

Batch ShiftTask::generate(int64_t batch_size, Generator& gen) const {
  const int64_t n = options_.seq_len, k = options_.shift;
  std::vector<int64_t> tokens(static_cast<size_t>(batch_size * n));
  std::vector<int64_t> targets(tokens.size(), kFiller);
  for (int64_t b = 0; b < batch_size; ++b) {
    int64_t* row = tokens.data() + b * n;
    int64_t* target = targets.data() + b * n;
    for (int64_t i = 0; i < n; ++i) row[i] = gen.integer(1, options_.vocab);
    for (int64_t i = k; i < n; ++i) target[i] = row[i - k];
  }
  return Batch{.tokens = Indices::from(std::move(tokens), {batch_size, n}),
               .features = {},
               .targets = Indices::from(std::move(targets), {batch_size, n})};
}

}  // namespace qkv
