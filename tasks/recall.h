// Associative recall: `pairs` key/value pairs, then one of the keys again as the query;
// the model must output the value that followed that key. Only the final position is
// scored. Layout, N = seq_len:
//   PAD ... PAD  k1 v1 k2 v2 ... kP vP  q      (left padding fills N beyond 2P + 1)
// Token ids: 0 = PAD, keys 1..K, values K+1..vocab-1, K = (vocab - 1) / 2. Keys within a
// sequence are distinct; values may repeat.
#pragma once

#include "tasks/task.h"

namespace qkv {

struct RecallOptions {
  int64_t seq_len = 0;  // 0: the shortest that fits, 2 * pairs + 1
  int64_t vocab = 32;
  int64_t pairs = 8;
};

class RecallTask : public Task {
 public:
  explicit RecallTask(RecallOptions options);
    std::string name() const override { return "recall"; }
  int64_t seq_len() const override { return seq_len_; }
  int64_t vocab_size() const override { return options_.vocab; }
  int64_t feature_dim() const override { return 0; }
  int64_t num_classes() const override { return options_.vocab; }
  double chance_accuracy() const override { return 1.0 / static_cast<double>(num_values()); }

  int64_t num_keys() const { return (options_.vocab - 1) / 2; }
  int64_t num_values() const { return options_.vocab - 1 - num_keys(); }
  int64_t first_value() const { return 1 + num_keys(); }  // token id of value 0

 protected:
  Batch generate(int64_t batch_size, Generator& gen) const override;

 private:
  RecallOptions options_;
  int64_t seq_len_;
};

}  // namespace qkv
