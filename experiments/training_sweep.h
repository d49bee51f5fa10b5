// The training runs of an experiment's sweep, over the ranks of an MPI job when the program
// runs under mpirun (dist/sweep.h), in this process otherwise. The experiments list their
// cells first, then take each cell's run in table order: the tables rank 0 writes are the
// ones a one-process run writes, byte for byte (at the same threads per process).
//
//   TrainingSweep sweep(cells, measure);  // several ranks: trains and gathers here
//   if (!dist::is_root()) return;         // rank 0 writes everything
//   for (size_t i = 0; i < cells.size(); ++i) TrainedCell c = sweep.take(i);
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/training_probe.h"

namespace qkv {

struct TrainedCell {
  TrainingProbeResult result;  // .model is dropped: it stays on the rank that trained it
  double measure = 0;          // what the sweep's ModelMeasure found on the trained model
};
// A figure that needs the trained model itself (an equivariance error, a learned scale):
// computed on the rank that trained it, where the model is.
using ModelMeasure = std::function<double(const TrainingProbeResult&)>;

class TrainingSweep {
 public:
  // In one process nothing runs until take(). On several ranks each trains its cells now
  // (balanced by expected_training_cost) and rank 0 gathers them all; the other ranks then
  // hold none.
  explicit TrainingSweep(std::vector<TrainingProbeOptions> cells, ModelMeasure measure = {});
  TrainedCell take(size_t cell);  // in one process, trains it now; each cell once

 private:
  std::vector<TrainingProbeOptions> cells_;
  ModelMeasure measure_;
  std::vector<std::string> gathered_;  // several ranks: rank 0's copy of every cell's result
};

// Multiply-adds of a run, roughly: what the sweep balances across ranks.
double expected_training_cost(const TrainingProbeOptions& options);

// A trained cell as bytes and back, exactly (the tables are written from what arrives).
std::string serialize_trained_cell(const TrainedCell& cell);
TrainedCell deserialize_trained_cell(const std::string& bytes);

}  // namespace qkv
