// Two published results on training stability, at toy scale, on the trainer:
//   logit growth (Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer
//   training instabilities"; Dehghani et al. 2023): over a learning-rate sweep, without
//   QK-norm the largest attention logit grows and training fails at high rates; with
//   QK-norm the usable range widens;
//   entropy collapse (Zhai et al. 2023, "Stabilizing Transformer Training by Preventing
//   Attention Entropy Collapse"): at a high rate, attention entropy per layer and head falls
//   towards zero without σReparam and stays up with it.
// Every training is an ordinary run folder under <out_dir>/runs/; the max logit and the
// per-head entropy come from its probes.jsonl (train/probes.h). A diverging run is a result
// (recorded with the step it stopped at), not an error.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/training_run.h"

namespace qkv {

struct LogitGrowthOptions {
  bool enabled = true;
  std::vector<double> lrs{1e-3, 3e-3, 1e-2, 3e-2, 1e-1};
  int64_t seeds = 2;  // runs per (scorer, lr): seeds train.seed, train.seed + 1, ..
  // Every run's config; the sweep sets optimizer.lr, model.scorer (scaled_dot or qk_norm)
  // and train.seed.
  nlohmann::json run;
};

struct EntropyCollapseOptions {
  bool enabled = true;
  double lr = 3e-2;  // the high rate both variants train at
  int64_t seeds = 2;
  // Every run's config; the sweep sets optimizer.lr, model.sigma_reparam and train.seed.
  nlohmann::json run;
};

struct StabilityOptions {
  LogitGrowthOptions logit_growth;
  EntropyCollapseOptions entropy_collapse;
  std::string out_dir = "runs/stability";
  std::string config_source;  // the config file, quoted in the report
};

// The default experiment: what configs/stability.json spells out.
StabilityOptions default_stability_options();
// The defaults overridden by a JSON config (keys in docs/experiments.md); ConfigError
// listing every problem (file, JSON path, expected, found) otherwise.
StabilityOptions load_stability_options(const std::string& path, const std::vector<std::string>& overrides = {});
// Every training run, in order: the logit-growth sweep (scorer, lr, seed), then the
// entropy-collapse runs (without, then with σReparam; seed), each in its folder under
// <out_dir>/runs/.
std::vector<RunConfig> stability_training_runs(const StabilityOptions& options);

// One run as the tables report it.
struct StabilityRun {
  std::string variant;  // "scaled_dot" | "qk_norm" | "plain" | "sigma_reparam"
  double lr = 0;
  uint64_t seed = 0;
  double final_eval_loss = 0;      // NaN when it diverged
  double final_accuracy = 0;       // NaN when it diverged
  int64_t diverged_step = -1;      // -1: trained to the end
  double initial_max_logit = 0;    // largest attention logit, any layer and head, at the first probe
  double peak_max_logit = 0;       // ... its largest over training
  double final_max_logit = 0;      // ... at the last probe
  double final_min_entropy = 0;    // lowest head's entropy at the last probe (nats)
  double final_mean_entropy = 0;   // mean over heads at the last probe
  // probes.jsonl over training: steps, and per step the max logit and per head the entropy.
  std::vector<int64_t> steps = {};
  std::vector<double> max_logit = {};
  std::vector<std::vector<double>> head_entropy = {};  // [step][layer-major head]
};

// A run's row from its folder.
StabilityRun read_stability_run(const TrainedRun& trained, const std::string& variant, double lr);

struct StabilityVerdicts {
  std::string logit_growth;     // the report's first paragraph, part 1 (empty when not run)
  std::string entropy_collapse; // part 2
};

struct StabilityResult {
  std::vector<StabilityRun> logit_growth;
  std::vector<StabilityRun> entropy_collapse;
  StabilityVerdicts verdicts;
};

// The claims' verdicts, computed from the runs alone (chance_loss: the loss of a uniform
// guess, the ceiling a run that learned nothing sits at; ln_keys: the entropy of uniform
// attention).
std::string logit_growth_verdict(const std::vector<StabilityRun>& runs, double chance_loss);
std::string entropy_collapse_verdict(const std::vector<StabilityRun>& runs, double ln_keys);

// Trains every run (shared over the ranks under mpirun), then rank 0 writes the tables,
// plots and report.md under options.out_dir; the other ranks return nothing.
StabilityResult run_stability_experiment(const StabilityOptions& options, std::ostream& log);

}  // namespace qkv
