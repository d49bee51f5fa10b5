// The training runs of an experiment's sweep, over the ranks of an MPI job when the program
// runs under mpirun (dist/sweep.h), in this process otherwise. Each cell is a RunConfig
// trained into its own run folder; rank 0 then reads every folder back, so the tables it
// writes are the ones a one-process run writes, byte for byte (at the same threads per
// process).
//
//   TrainingSweep sweep(cells);     // every rank trains its cells
//   if (!dist::is_root()) return;   // rank 0 reads and writes everything
//   for (size_t i = 0; i < cells.size(); ++i) TrainedRun run = sweep.take(i);
#pragma once

#include <string>
#include <vector>

#include "experiments/training_run.h"

namespace qkv {

class TrainingSweep {
 public:
  // Trains every cell (on several ranks, each rank its share, balanced by
  // expected_training_cost); returns when all are trained.
  explicit TrainingSweep(std::vector<RunConfig> cells);
  TrainedRun take(size_t cell) const;  // read back from the cell's run folder

 private:
  std::vector<RunConfig> cells_;
};

// Multiply-adds of a run, roughly: what the sweep balances across ranks.
double expected_training_cost(const RunConfig& config);

}  // namespace qkv
