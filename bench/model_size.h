// The benchmark model's sizes, as configs/bench/*.json give them.
#pragma once

#include <cstdint>
#include <string>

namespace qkv_bench {

struct ModelSize {
  int64_t vocab, seq_len, d_model, heads, layers, batch;
  double lr;
  uint64_t seed;
  bool causal = false;  // model.causal, optional: query i sees keys j <= i only
};

// Reads a config of configs/bench/; a missing or malformed value is an error naming the
// file and the JSON path.
ModelSize read_size(const std::string& path);

// Matmul FLOPs of one training step: forward per token and block 24 d^2 (Q, K, V, O: 4 of
// 2 d^2; FFN d -> 4d -> d: 16 d^2) plus 4 N d (q k^T and weights v), and 2 d V for the head;
// the backward costs twice the forward (a gradient for each of the two operands). A causal
// model is counted the same (its masked half of the scores is not subtracted): both sides
// of a comparison do the same work, and a ratio of times does not depend on the count.
double step_flops(const ModelSize& s);

}  // namespace qkv_bench
