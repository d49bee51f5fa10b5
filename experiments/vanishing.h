// The headline experiment: what happens to attention without the 1/sqrt(d_k) scale.
// Part 1 probes untrained attention over a sweep of d_k and scorers (init_probe.h);
// part 2 trains a small transformer scaled and unscaled at each d_k, each an ordinary run
// of train/ in <out_dir>/runs/ (training_run.h).
// Everything lands in one run folder: CSV and JSON tables, gnuplot scripts and PNGs, and a
// report.md that reads on its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/init_probe.h"
#include "experiments/training_run.h"

namespace qkv {

struct VanishingTrainingOptions {
  std::vector<int64_t> d_ks{4, 64, 256};
  int64_t seeds = 8;  // training runs per (d_k, scaling), seeds train.seed, train.seed + 1, ..
  // The run config of every training; model.d_head, model.scorer, model.scale and
  // train.seed are set per run.
  nlohmann::json run;
  // The learning-rate sweep of the unscaled model, at every d_k with the same seeds: each
  // rate as given, and each c as c / sqrt(d_k). Both empty: no sweep.
  std::vector<double> unscaled_lrs{1e-4, 3e-4, 3e-3};
  std::vector<double> unscaled_lrs_over_sqrt_dk{1e-3};
};

struct VanishingOptions {
  InitProbeOptions probe;
  VanishingTrainingOptions training;
  bool run_training = true;
  std::string out_dir = "runs/vanishing";
  std::string config_source;  // the config file, quoted in the report
};

// The default experiment: what configs/vanishing.json spells out.
VanishingOptions default_vanishing_options();
// The defaults overridden by a JSON config (keys in docs/experiments.md); ConfigError
// listing every problem (file, JSON path, expected, found) otherwise.
VanishingOptions load_vanishing_options(const std::string& path, const std::vector<std::string>& overrides = {});
// The run config of every training run, in cell order (d_k, then scaled before unscaled,
// then seed; then the learning-rate sweep: d_k, rate, seed), each in its folder under
// <out_dir>/runs/.
std::vector<RunConfig> vanishing_training_runs(const VanishingOptions& options);

struct VanishingTrainingRow {
  int64_t d_k = 0;
  bool scaled = true;
  uint64_t seed = 0;
  TrainedRun result;
};

// A run of the learning-rate sweep: the unscaled model at `lr` ("0.0003", or
// "0.001/sqrt(d_k)" for a rate that follows d_k).
struct VanishingLrRow {
  int64_t d_k = 0;
  std::string lr;
  uint64_t seed = 0;
  TrainedRun result;
};

struct VanishingResult {
  std::vector<InitProbeRow> probe;
  std::vector<VanishingTrainingRow> training;
  std::vector<VanishingLrRow> lr_sweep;
};

// One d_k of the training half as the report's opening reads it: how many runs of each
// side reached 90% held-out accuracy, and (empty without a learning-rate sweep) the
// unscaled rate that reached it most often, with its count.
struct VanishingDkOutcome {
  int64_t d_k = 0;
  int64_t runs = 0;  // per side
  int64_t scaled_reached = 0, unscaled_reached = 0;
  std::string best_lr = {};
  int64_t best_lr_runs = 0, best_lr_reached = 0;
};
// The report's first paragraph: the claim, whether these runs support it, and the numbers.
// Supported: at the largest d_k the unscaled runs' 95% Wilson interval of reaching 90% lies
// wholly below the scaled runs' and below the unscaled one at the smallest d_k. Contradicted:
// at the largest d_k the unscaled side reaches 90% at least as often as the scaled side.
// Otherwise these seeds cannot tell. Outcomes in increasing d_k.
std::string vanishing_verdict(const std::vector<VanishingDkOutcome>& outcomes);

// Runs both parts, writes everything under options.out_dir, and returns the numbers.
// `log` receives one line per finished setting. Under mpirun the ranks share the training
// runs (experiments/training_sweep.h); rank 0 alone writes, and the others return nothing.
VanishingResult run_vanishing_experiment(const VanishingOptions& options, std::ostream& log);

}  // namespace qkv
