// Probes: what a run records every probes.interval steps, beyond metrics.jsonl, to watch
// how attention and gradients behave while it trains. One JSON object per probe step in
// <run_dir>/probes.jsonl:
//   {"step": 100,
//    "attention": [ per layer [ per head {"entropy", "jacobian_norm", "dead_fraction",
//                                         "max_weight", "max_logit"} ] ],
//    "parameters": { name: {"grad_norm", "update_ratio"} }   (named_parameters order)}
// The attention statistics are those of train/softmax_stats.h, over the training
// batch of that step; update_ratio is ||w_after - w_before|| / ||w_before|| of the update.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/sequence_model.h"
#include "train/softmax_stats.h"

namespace qkv {

struct ProbeRecord {
  int64_t step = 0;
  std::vector<std::vector<SoftmaxStats>> attention;  // [layer][head]
  std::vector<double> grad_norms;                    // per parameter
  std::vector<double> update_ratios;                 // per parameter
};

// The parameters' values before an update, to measure the update against.
class ParameterSnapshot {
 public:
  explicit ParameterSnapshot(const std::vector<Tensor>& parameters);
  // ||after - before|| / ||before|| per parameter (0 for a parameter that was all zero).
  std::vector<double> update_ratios(const std::vector<Tensor>& after) const;

 private:
  std::vector<Tensor> before_;
};

// Per layer and head statistics of a forward pass's attention weights ([B, H, N, N] each).
std::vector<std::vector<SoftmaxStats>> attention_probes(const std::vector<Tensor>& attention_weights);
// The same from a forward with keep_attention_stats: per layer the fused kernel's row
// statistics, or the weights where the layer ran composed.
std::vector<std::vector<SoftmaxStats>> attention_probes(const SequenceModelOutput& out);

class ProbeLog {
 public:
  // Opens <run_dir>/probes.jsonl as MetricsLog opens metrics.jsonl (resume keeps the rows
  // up to resume_step).
  ProbeLog(const std::string& run_dir, std::vector<std::string> parameter_names, std::optional<int64_t> resume_step);
  void write(const ProbeRecord& record);  // throws RunFileError when the write fails

 private:
  std::vector<std::string> parameter_names_;
  std::string path_;
  std::ofstream out_;
};

}  // namespace qkv
