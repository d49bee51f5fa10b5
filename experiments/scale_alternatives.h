// What else keeps the softmax alive: the vanishing experiment's two parts, init probe and
// training over d_k, for the alternatives to q.k / sqrt(d_k): unscaled q.k ("dot"), q.k/d_k
// ("mup_dot", muP), QK-norm ("qk_norm", cosine times a learned g from sqrt(d_k)), and a
// learned temperature ("learned_temperature", from 1/sqrt(d_k); "learned_temperature_from_1",
// from 1). Tables, plots, heatmaps and a report.md that says, from the numbers, which keep
// the gradient through the softmax alive at initialisation and which learn.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/init_probe.h"
#include <nlohmann/json.hpp>

#include "experiments/training_run.h"

namespace qkv {

struct ScaleAlternativesOptions {
  InitProbeOptions probe;  // probe.scorers: the alternatives, also trained in part 2
  std::vector<int64_t> training_d_ks{4, 16, 64, 256, 1024};
  int64_t seeds = 2;  // training runs per (alternative, d_k), seeds train.seed, train.seed + 1, ..
  // The run config of every training; model.d_head, the scorer and train.seed are set per run.
  nlohmann::json run;
  bool run_training = true;
  std::string out_dir = "runs/scale_alternatives";
  std::string config_source;  // the config file, quoted in the report
};

// The default experiment: what configs/scale_alternatives.json spells out.
ScaleAlternativesOptions default_scale_alternatives_options();
// The defaults overridden by a JSON config (keys in docs/experiments.md); ConfigError
// listing every problem (file, JSON path, expected, found) otherwise.
ScaleAlternativesOptions load_scale_alternatives_options(const std::string& path, const std::vector<std::string>& overrides = {});
// The run config of every training run, scorer by scorer, d_k by d_k, seed by seed, each in
// its folder under <out_dir>/runs/.
std::vector<RunConfig> scale_alternatives_training_runs(const ScaleAlternativesOptions& options);

struct ScaleAlternativesRun {
  std::string scorer;
  int64_t d_k = 0;
  uint64_t seed = 0;
  TrainedRun result;
  double final_scale = 0;  // mean learned g (qk_norm) or tau (learned_temperature) over heads and layers; NaN otherwise
};

// One alternative as the report's opening reads it: the init probe at the smallest and
// the largest probed d_k, and the training runs at the largest trained d_k.
struct ScaleAlternativeOutcome {
  std::string scorer;
  int64_t probe_d_k_smallest = 0, probe_d_k_largest = 0;
  double jacobian_norm_smallest = 0, jacobian_norm_largest = 0;  // of the softmax, mean per row
  double dead_rows_largest = 0;
  int64_t train_d_k = 0;
  int64_t runs = 0;  // 0: no training
  int64_t reached_90 = 0;
  double mean_accuracy = 0;
};

// "Keeps the gradient through the softmax alive": at the largest probed d_k its Jacobian
// norm is at least half the one at the smallest, and at most 5% of rows are dead.
bool keeps_softmax_gradient_alive(const ScaleAlternativeOutcome& outcome);

// The report's first paragraph: the claim, whether these runs support it, and the numbers.
// A choice "trains" when every run reaches 90% held-out accuracy at the largest trained d_k.
// The training half counts only if scaled_dot ran and trains there (else the budget is too
// small to tell). Supported: every choice that keeps the gradient alive trains, and every one
// that loses it does not (at least one of each). Contradicted: a choice that keeps it alive
// reaches 90% in no run, or one that loses it trains. Otherwise these runs cannot tell.
std::string scale_alternatives_verdict(const std::vector<ScaleAlternativeOutcome>& outcomes);

struct ScaleAlternativesResult {
  std::vector<InitProbeRow> probe;
  std::vector<ScaleAlternativesRun> training;
  std::vector<ScaleAlternativeOutcome> outcomes;  // in the order of the scorers
  std::string verdict;  // scale_alternatives_verdict of the outcomes, the report's first paragraph
};

// Runs both parts, writes everything under options.out_dir, and returns the numbers.
// Under mpirun the ranks share the training runs (experiments/training_sweep.h); rank 0
// alone writes, and the others return nothing.
ScaleAlternativesResult run_scale_alternatives(const ScaleAlternativesOptions& options, std::ostream& log);

}  // namespace qkv
