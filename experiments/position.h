// Position information: the same small transformer trained on an order-dependent task
// (shift by k, or copy/reverse/sort) with no positional encoding, sinusoidal, learned
// absolute, a relative position bias (scaled_dot with a clipped window, no absolute
// positions), RoPE and ALiBi (inside every layer's scorer, no absolute positions). Without positions self-attention is permutation-equivariant, so the model
// can do no better than the best predictor that sees only the input's multiset of tokens
// and the token at its own position; the experiment computes that ceiling, checks the
// equivariance directly on the trained models, and writes curves, a table, attention
// heatmaps and report.md to the run folder.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/training_run.h"

namespace qkv {

struct PositionOptions {
  std::vector<std::string> variants{"none", "sinusoidal", "learned", "relative", "rope", "alibi"};
  int64_t relative_window = 8;  // "relative": distances beyond [-window, window] share a bias
  int64_t seeds = 3;            // training runs per variant, seeds train.seed, train.seed + 1, ..
  std::string scorer = "scaled_dot";  // every variant's scorer: a comparison scorer or any registered kind
  // The run config of every training (a copy, reverse, sort or shift task); model.positional,
  // the scorer and its relative bias, and train.seed are set per run.
  nlohmann::json run;
  int64_t equivariance_batches = 4;
  uint64_t equivariance_seed = 7;
  int64_t ceiling_samples = 200000;  // Monte Carlo sequences, for tasks without a closed form
  uint64_t ceiling_seed = 11;
  std::string out_dir = "runs/position";
  std::string config_source;  // the config file, quoted in the report
};

// The default experiment: what configs/position.json spells out.
PositionOptions default_position_options();
// The defaults overridden by a JSON config (keys in docs/experiments.md); ConfigError
// listing every problem (file, JSON path, expected, found) otherwise.
PositionOptions load_position_options(const std::string& path, const std::vector<std::string>& overrides = {});

// The variant's model keys (a merge patch of a run config's "model"): "none" | "sinusoidal" |
// "learned" (absolute encodings), "relative" (no absolute encoding, a clipped relative
// bias), or "rope" / "alibi" (inside every layer's scorer, no absolute encoding); `scorer`
// (comparison_scorer_model) in each.
nlohmann::json position_variant_model(const std::string& variant, const std::string& scorer, int64_t relative_window);
// The run config of every training run, variant by variant, seed by seed, each in its
// folder under <out_dir>/runs/.
std::vector<RunConfig> position_training_runs(const PositionOptions& options);
const std::vector<std::string>& position_variant_names();

// The best accuracy over scored positions of any predictor whose output at position i is
// a function of (token i, multiset of all tokens) only, which is all a permutation-
// equivariant model can use. copy/reverse/sort: every answer slot holds the same blank
// token, so the best is the mode of the source: exactly E[max multiplicity] / L, computed
// in closed form. shift by k: the best guess per (multiset, own token) has a closed form
// given the multiset; the expectation over multisets is a Monte Carlo mean over `samples`
// sequences drawn from the task (standard error reported).
struct OrderBlindCeiling {
  double accuracy = 0;
  double standard_error = 0;  // 0 when exact
  std::string method;         // one sentence, for the report
};
OrderBlindCeiling order_blind_ceiling(const Task& task, int64_t samples, uint64_t seed);

// max |model(P x) - P model(x)| over the logits of `batches` held-out batches, each with
// its own random permutation P of the positions: ~1e-6 for an equivariant model.
double permutation_equivariance_error(SequenceModel& model, const Task& task, int64_t batches,
                                      int64_t batch_size, uint64_t seed);

struct PositionRow {
  std::string variant;
  uint64_t seed = 0;
  TrainedRun result;
  double equivariance_error = 0;
};

// One variant over its seeds, as the summary table and the report's opening read it.
struct PositionVariantOutcome {
  std::string variant;
  int64_t runs = 0;
  // Runs whose final held-out accuracy beats the order-blind ceiling by more than two
  // standard errors (of the held-out estimate plus the ceiling's): runs that use order.
  int64_t above_ceiling = 0;
  int64_t reached_90 = 0;
  double mean_accuracy = 0;
  double max_equivariance_error = 0;
  std::string steps_reaching_90 = {};  // each run's, "/"-separated
};

// The report's first paragraph: the claim, whether these runs support it, and the numbers.
// Supported: no run of `none` beats the order-blind ceiling (by two standard errors) and
// every run of some variant with positions does. Contradicted: a run of `none` beats it,
// which permutation equivariance rules out (a bug, or order leaking in). Otherwise (no
// `none` variant, or no variant with positions beat it in every run within this budget)
// these runs cannot tell. Outcomes in the order the variants ran.
std::string position_verdict(const std::vector<PositionVariantOutcome>& outcomes, const OrderBlindCeiling& ceiling);

struct PositionResult {
  std::vector<PositionRow> rows;
  std::vector<PositionVariantOutcome> outcomes;
  OrderBlindCeiling ceiling;
  double chance_accuracy = 0;
  std::string verdict;  // position_verdict of the outcomes, the report's first paragraph
};

// Trains every variant with every seed, writes everything under options.out_dir, and returns the
// numbers. `log` receives one line per finished run.
// Under mpirun the ranks share the training runs (experiments/training_sweep.h); rank 0
// alone writes, and the others return nothing.
PositionResult run_position_experiment(const PositionOptions& options, std::ostream& log);

}  // namespace qkv
