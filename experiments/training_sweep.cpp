#include "experiments/training_sweep.h"

#include <stdexcept>

#include "dist/communicator.h"
#include "dist/sweep.h"

namespace qkv {

double expected_training_cost(const RunConfig& config) {
  const ModelConfig& m = config.model;
  const double n = static_cast<double>(config.task.seq_len);
  const double d = static_cast<double>(m.d_model);
  const double width = static_cast<double>(m.heads * m.d_head);
  const double d_ff = static_cast<double>(m.d_ff);
  // Per token and layer: Q, K, V and output projections, the feed-forward, and scores and
  // weighted values against n keys.
  const double per_token = 4 * d * width + 2 * d * d_ff + 2 * n * width;
  return static_cast<double>(config.train.steps * config.train.batch_size * m.layers) * n * per_token;
}

TrainingSweep::TrainingSweep(std::vector<RunConfig> cells) : cells_(std::move(cells)) {
  std::vector<double> costs;
  for (const RunConfig& c : cells_) costs.push_back(expected_training_cost(c));
  // Each cell's result is its run folder: nothing travels but the sweep's end.
  dist::run_sweep(costs, [&](size_t i) {
    train_run(cells_[i]);
    return std::string();
  });
}

TrainedRun TrainingSweep::take(size_t cell) const {
  if (!dist::is_root()) throw std::logic_error("TrainingSweep::take: rank 0 reads the results");
  return read_trained_run(cells_.at(cell).train.out_dir);
}

}  // namespace qkv
