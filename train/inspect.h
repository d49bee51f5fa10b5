// Looking at a trained model: the run folder's config and checkpoint, evaluated on the
// held-out set the run used, a few examples with the model's predictions, and the
// attention weights of every layer and head for one input as heatmaps
// (train/heatmap.h). `train --eval RUN_DIR` prints this.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace qkv {

struct InspectOptions {
  int64_t examples = 3;  // held-out examples printed with their predictions
  std::string out_dir;   // heatmaps; empty: <run_dir>/inspect
};

struct Inspection {
  EvalResult eval;                    // on the run's held-out batches
  double chance_accuracy = 0;
  std::vector<std::string> heatmaps;  // PNGs made, one per layer (none without gnuplot)
};

// Prints accuracy and examples to `out`; throws std::runtime_error (or ConfigError,
// CheckpointError) naming the folder or file that is not a run's.
Inspection inspect_run(const std::string& run_dir, const InspectOptions& options, std::ostream& out);

}  // namespace qkv
