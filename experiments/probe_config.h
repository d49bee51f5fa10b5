// The JSON keys and model variants shared by the experiments, so every experiment spells
// its runs ("run": an ordinary run config) and scorers the same way and reports a bad value
// the same way (file, JSON path, expected, found).
#pragma once

#include <string>

#include "experiments/experiment_config.h"
#include "experiments/init_probe.h"
#include "experiments/table.h"
#include "experiments/training_run.h"
#include "layers/scorer_registry.h"

namespace qkv {

// "run": the run config every training of the experiment starts from (sections model,
// task, optimizer, schedule, train, as a run config spells them; train.out_dir is set per
// run), merged over `run`'s defaults. Checked when the experiment builds its runs.
void read_run_keys(JsonReader& reader, nlohmann::json& run);
// The init probe's "d_k", "seq_len", "d_model", "seeds", "seed" (not its scorers, which
// each experiment names its own way).
void read_init_probe_keys(JsonReader& reader, InitProbeOptions& probe);
// The keys of a training sweep over d_k ("enabled", "d_k", "seeds", "run"), as vanishing
// and scale_alternatives spell them.
void read_sweep_training_keys(JsonReader& reader, bool& enabled, std::vector<int64_t>& d_ks, int64_t& seeds,
                              nlohmann::json& run);

// The scorers the comparisons name: "additive", "dot", "general", "scaled_dot",
// "scaled_dot_relative" (scaled_dot plus a clipped relative position bias, Shaw et al.,
// over distances [-relative_window, relative_window]), the alternatives to 1/sqrt(d_k)
// "mup_dot", "qk_norm" and "learned_temperature" (from 1/sqrt(d_k)), and
// "learned_temperature_from_1" (the same scorer started unscaled); and every kind a program
// added with register_scorer() (with its settings' defaults).
const std::vector<std::string>& comparison_scorer_names();
std::vector<std::string> comparison_scorer_choices();  // the names above, then the registered kinds
ScorerOptions comparison_scorer(const std::string& name, int64_t relative_window);
// The same scorer as the model keys of a run config (a merge patch of "model").
nlohmann::json comparison_scorer_model(const std::string& name, int64_t relative_window);

// One run's curve: step, train_loss, eval_loss, eval_accuracy, dead_fraction, entropy.
Table curve_table(const std::vector<CurvePoint>& curve);
// "never" or the step, as the tables print it.
std::string step_text(int64_t step_reaching_90);

// One setting's runs over its seeds, counted as every experiment's tables and verdicts
// count them.
struct SeedTally {
  int64_t runs = 0;
  int64_t reached_90 = 0;               // runs reaching 90% held-out accuracy
  double final_accuracy_sum = 0;        // of the runs' last held-out accuracies
  std::string steps_reaching_90 = {};   // each run's step_text, "/"-separated
  void add(const TrainedRun& run);
  double mean_accuracy() const;         // 0 with no runs
};

}  // namespace qkv
