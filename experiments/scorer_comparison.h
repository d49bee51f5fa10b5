// Scorer comparison: the same small transformer trained with each attention scorer
// (additive, dot, general, scaled_dot, scaled_dot with a relative position bias) on a few
// tasks, so a user sees what each one buys in accuracy, speed of learning, time per step
// and parameters. Writes result and timing tables (kept apart, so the results compare
// exactly across runs while the timings do not), accuracy curves per task and report.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "experiments/table.h"
#include "experiments/training_run.h"

namespace qkv {

// A task of the comparison: what its runs change in the shared run config (a merge patch:
// task.name, which names it, the task's options, and e.g. train.steps or model.causal).
struct ScorerComparisonTask {
  std::string name;
  nlohmann::json changes;
};

struct ScorerComparisonOptions {
  std::vector<std::string> scorers{"additive", "dot", "general", "scaled_dot", "scaled_dot_relative"};
  int64_t relative_window = 8;  // scaled_dot_relative: clipped distances
  int64_t seeds = 2;            // training runs per (task, scorer), seeds train.seed, train.seed + 1, ..
  std::vector<ScorerComparisonTask> tasks;
  // The run config every training starts from; the task's changes, the scorer and
  // train.seed are set per run.
  nlohmann::json run;
  std::string out_dir = "runs/scorers";
  std::string config_source;  // the config file, quoted in the report
};

// The default experiment: what configs/scorers.json spells out.
ScorerComparisonOptions default_scorer_comparison_options();
// The defaults overridden by a JSON config (keys in docs/experiments.md); ConfigError
// listing every problem (file, JSON path, expected, found) otherwise.
ScorerComparisonOptions load_scorer_comparison_options(const std::string& path, const std::vector<std::string>& overrides = {});
// The run config of every training run, task by task, scorer by scorer, seed by seed, each
// in its folder under <out_dir>/runs/.
std::vector<RunConfig> scorer_comparison_training_runs(const ScorerComparisonOptions& options);

struct ScorerComparisonRow {
  std::string task, scorer;
  uint64_t seed = 0;
  TrainedRun result;
};

// task, scorer, seed, final_accuracy, final_eval_loss, step_reaching_90, chance_accuracy,
// parameter_count: everything but timings, identical for identical configs and threads.
Table scorer_results_table(const std::vector<ScorerComparisonRow>& rows);
// task, scorer, seed, ms_per_step_median, ms_per_step_mean.
Table scorer_timing_table(const std::vector<ScorerComparisonRow>& rows);

// One (task, scorer) over its seeds: what the summary table and the report's opening read.
struct ScorerOutcome {
  std::string task, scorer;
  int64_t runs = 0;
  int64_t reached_90 = 0;  // runs reaching 90% held-out accuracy
  double mean_accuracy = 0;
  double ms_per_step = 0;  // mean over the runs of each run's median step time
  int64_t parameter_count = 0;
  std::string steps_reaching_90 = {};  // each run's, "/"-separated
};
// Rows of one cell are adjacent (the order run_scorer_comparison returns them in).
std::vector<ScorerOutcome> scorer_outcomes(const std::vector<ScorerComparisonRow>& rows);

// The report's first paragraph: the claim, whether these runs support it, and the numbers.
// Claim: scaled_dot, the Transformer's scorer, learns every task. Supported: every run of
// scaled_dot reaches 90% on every task. Contradicted: on some task no run of scaled_dot
// reaches 90% while every run of another scorer does (the budget sufficed, the scorer did
// not). Otherwise (scaled_dot not run, or some of its seeds learn and some do not) these
// runs cannot tell. The time per step is reported beside, not judged: it varies with the
// machine's load, and the verdict must not.
std::string scorer_comparison_verdict(const std::vector<ScorerOutcome>& outcomes);

// Trains every (task, scorer, seed), writes everything under options.out_dir, and returns the
// rows. `log` receives one line per finished run.
// Under mpirun the ranks share the training runs (experiments/training_sweep.h); rank 0
// alone writes, and the others return nothing.
std::vector<ScorerComparisonRow> run_scorer_comparison(const ScorerComparisonOptions& options, std::ostream& log);

}  // namespace qkv
