// The JSON keys and model variants shared by experiments that train through
// training_probe.h, so every experiment spells "d_model" or "steps" the same way and
// reports a bad value the same way (file, JSON path, expected, found).
#pragma once

#include <string>

#include "experiments/experiment_config.h"
#include "experiments/init_probe.h"
#include "experiments/table.h"
#include "experiments/training_probe.h"

namespace qkv {

// "d_model", "heads", "layers", "d_ff" into model.
void read_model_keys(JsonReader& reader, SequenceModelOptions& model);
// "steps", "batch_size", "lr", "eval_interval", "eval_batches", "seed".
void read_training_keys(JsonReader& reader, TrainingProbeOptions& training);
// The init probe's "d_k", "seq_len", "d_model", "seeds", "seed" (not its scorers, which
// each experiment names its own way).
void read_init_probe_keys(JsonReader& reader, InitProbeOptions& probe);
// The keys of a training sweep over d_k ("enabled", "d_k", "seeds", "task", "task_options",
// the model and training keys, "positional"), as vanishing and scale_alternatives spell them.
void read_sweep_training_keys(JsonReader& reader, bool& enabled, std::vector<int64_t>& d_ks, int64_t& seeds,
                              TrainingProbeOptions& training);
// Builds the task once; an option it rejects becomes a problem at <path>.<option>.
void check_task_options(JsonReader& root, const std::string& path, const std::string& task,
                        const nlohmann::json& task_options);

// The scorers the comparisons name: "additive", "dot", "general", "scaled_dot",
// "scaled_dot_relative" (scaled_dot plus a clipped relative position bias, Shaw et al.,
// over distances [-relative_window, relative_window]), the alternatives to 1/sqrt(d_k)
// "mup_dot", "qk_norm" and "learned_temperature" (from 1/sqrt(d_k)), and
// "learned_temperature_from_1" (the same scorer started unscaled).
const std::vector<std::string>& comparison_scorer_names();
ScorerOptions comparison_scorer(const std::string& name, int64_t relative_window);

// One run's curve: step, train_loss, eval_loss, eval_accuracy, dead_fraction, entropy.
Table curve_table(const std::vector<CurvePoint>& curve);
// "never" or the step, as the tables print it.
std::string step_text(int64_t step_reaching_90);

}  // namespace qkv
