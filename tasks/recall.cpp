#include "tasks/recall.h"

#include <numeric>
#include <string>

#include "core/generator.h"

namespace qkv {

RecallTask::RecallTask(RecallOptions options) : options_(options) {
  if (options_.pairs < 1)
    throw TaskOptionError("recall", "pairs", "at least 1", std::to_string(options_.pairs));
  if (options_.vocab < 5)
    throw TaskOptionError("recall", "vocab", "at least 5 (PAD, 2 keys, 2 values)",
                          std::to_string(options_.vocab));
  if (num_keys() < options_.pairs)
    throw TaskOptionError("recall", "vocab",
                          "at least 2 * pairs + 2 = " + std::to_string(2 * options_.pairs + 2) +
                              " so that " + std::to_string(options_.pairs) +
                              " distinct keys exist",
                          std::to_string(options_.vocab));
  const int64_t needed = 2 * options_.pairs + 1;
  seq_len_ = options_.seq_len == 0 ? needed : options_.seq_len;
  if (seq_len_ < needed)
    throw TaskOptionError("recall", "seq_len",
                          "at least 2 * pairs + 1 = " + std::to_string(needed) + " (or 0)",
                          std::to_string(options_.seq_len));
}

Batch RecallTask::generate(int64_t batch_size, Generator& gen) const {
  const int64_t n = seq_len_, pairs = options_.pairs;
  std::vector<int64_t> tokens(static_cast<size_t>(batch_size * n), 0);
  std::vector<int64_t> targets(tokens.size(), kIgnore);
  std::vector<int64_t> keys(static_cast<size_t>(num_keys()));
  for (int64_t b = 0; b < batch_size; ++b) {
    // A partial Fisher-Yates shuffle draws `pairs` distinct keys.
    std::iota(keys.begin(), keys.end(), int64_t{1});
    for (int64_t i = 0; i < pairs; ++i)
      std::swap(keys[static_cast<size_t>(i)],
                keys[static_cast<size_t>(gen.integer(i, num_keys()))]);
    int64_t* row = tokens.data() + b * n;
    const int64_t start = n - (2 * pairs + 1);
    for (int64_t i = 0; i < pairs; ++i) {
      row[start + 2 * i] = keys[static_cast<size_t>(i)];
      row[start + 2 * i + 1] = first_value() + gen.integer(0, num_values());
    }
    const int64_t asked = gen.integer(0, pairs);
    row[n - 1] = row[start + 2 * asked];
    targets[static_cast<size_t>(b * n + n - 1)] = row[start + 2 * asked + 1];
  }
  return Batch{.tokens = Indices::from(std::move(tokens), {batch_size, n}),
               .features = {},
               .targets = Indices::from(std::move(targets), {batch_size, n})};
}

}  // namespace qkv
