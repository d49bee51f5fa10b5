// Looking at a trained model: the run folder's config and checkpoint, evaluated on the
// held-out set the run used, a few examples with the model's predictions, and the
// attention weights of every layer and head for one input as heatmaps
// (train/heatmap.h); or, like nanoGPT's sample.py, the prediction for an input of the
// user's own. `train --eval RUN_DIR` prints this.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace qkv {

struct InspectOptions {
  int64_t examples = 3;  // held-out examples printed with their predictions
  std::string out_dir;   // heatmaps; empty: <run_dir>/inspect, or none for an `input`
  // --set overrides of the run's config; only eval_settable_keys() may be changed.
  std::vector<std::string> overrides;
  // Token ids separated by spaces ("3 1 4 1"): print the model's prediction for them
  // instead of evaluating on the held-out set. Empty: evaluate.
  std::string input;
};

struct Inspection {
  EvalResult eval;                    // on the run's held-out batches (not for an `input`)
  double chance_accuracy = 0;
  std::vector<int64_t> predicted;     // for an `input`: the arg-max class at each position
  std::vector<std::string> heatmaps;  // PNGs made, one per layer (none without gnuplot)
};

// The keys an evaluation can change without changing the trained model: which held-out
// batches, how many, their size, and the threads.
const std::vector<std::string>& eval_settable_keys();

// Prints accuracy and examples (or the input's prediction) to `out`; throws ConfigError
// for an override of another key or a malformed input, std::runtime_error (or
// CheckpointError) naming the folder or file that is not a run's.
Inspection inspect_run(const std::string& run_dir, const InspectOptions& options, std::ostream& out);

}  // namespace qkv
