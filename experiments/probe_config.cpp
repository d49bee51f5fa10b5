#include "experiments/probe_config.h"

#include <cstdint>
#include <stdexcept>

#include "tasks/task.h"

namespace qkv {

void read_model_keys(JsonReader& reader, SequenceModelOptions& model) {
  reader.integer("d_model", model.d_model, 1, 8192);
  reader.integer("heads", model.heads, 1, 256);
  reader.integer("layers", model.layers, 1, 64);
  reader.integer("d_ff", model.d_ff, 1, 65536);
  if (model.d_model % model.heads != 0)
    reader.problem("heads", "a divisor of d_model (" + std::to_string(model.d_model) + ")",
                   std::to_string(model.heads));
}

void read_training_keys(JsonReader& reader, TrainingProbeOptions& training) {
  reader.integer("steps", training.steps, 1, 10000000);
  reader.integer("batch_size", training.batch_size, 1, 65536);
  reader.number("lr", training.lr, 1e-12, 10);
  reader.integer("eval_interval", training.eval_interval, 1, 10000000);
  reader.integer("eval_batches", training.eval_batches, 1, 100000);
  int64_t seed = static_cast<int64_t>(training.seed);
  reader.integer("seed", seed, 0, INT64_MAX);
  training.seed = static_cast<uint64_t>(seed);
}

void read_init_probe_keys(JsonReader& reader, InitProbeOptions& probe) {
  reader.integer_list("d_k", probe.d_ks, 1, 8192);
  reader.integer("seq_len", probe.seq_len, 2, 4096);
  reader.integer("d_model", probe.d_model, 1, 8192);
  reader.integer("seeds", probe.seeds, 1, 100000);
  int64_t seed = static_cast<int64_t>(probe.seed);
  reader.integer("seed", seed, 0, INT64_MAX);
  probe.seed = static_cast<uint64_t>(seed);
}

void read_sweep_training_keys(JsonReader& reader, bool& enabled, std::vector<int64_t>& d_ks, int64_t& seeds,
                              TrainingProbeOptions& training) {
  reader.boolean("enabled", enabled);
  reader.integer_list("d_k", d_ks, 1, 8192);
  reader.integer("seeds", seeds, 1, 1000);
  reader.string("task", training.task, task_names());
  reader.object("task_options", training.task_options);
  read_model_keys(reader, training.model);
  reader.string("positional", training.model.positional, {"none", "sinusoidal", "learned", "rope", "alibi"});
  read_training_keys(reader, training);
}

void check_task_options(JsonReader& root, const std::string& path, const std::string& task,
                        const nlohmann::json& task_options) {
  try {
    make_task(task, task_options);
  } catch (const TaskOptionError& e) {
    root.problem(path + "." + e.option(), e.expected(), e.found());
  } catch (const std::invalid_argument& e) {
    root.problem(path, "options the task accepts", e.what());
  }
}

const std::vector<std::string>& comparison_scorer_names() {
  static const std::vector<std::string> names{"additive",   "dot",     "general",
                                              "scaled_dot", "scaled_dot_relative", "mup_dot",
                                              "qk_norm",    "learned_temperature", "learned_temperature_from_1"};
  return names;
}

ScorerOptions comparison_scorer(const std::string& name, int64_t relative_window) {
  ScorerOptions s;
  if (name == "scaled_dot_relative") {
    s.kind = "scaled_dot";
    s.relative_bias = RelativeBiasOptions{.kind = "clipped", .window = relative_window};
    return s;
  }
  if (name == "learned_temperature_from_1") {
    s.kind = "learned_temperature";
    s.scale = ScoreScale::none();
    return s;
  }
  for (const auto& known : comparison_scorer_names())
    if (known == name) {
      s.kind = name;
      return s;
    }
  std::string known;
  for (const auto& k : comparison_scorer_names()) known += std::string(known.empty() ? "" : ", ") + k;
  throw std::invalid_argument("comparison_scorer: unknown scorer \"" + name + "\"; known: " + known);
}

Table curve_table(const std::vector<CurvePoint>& curve) {
  Table t({"step", "train_loss", "eval_loss", "eval_accuracy", "dead_fraction", "entropy"});
  for (const CurvePoint& p : curve)
    t.add_row({p.step, p.train_loss, p.eval_loss, p.eval_accuracy, p.dead_fraction, p.mean_entropy});
  return t;
}

std::string step_text(int64_t step_reaching_90) {
  return step_reaching_90 < 0 ? std::string("never") : std::to_string(step_reaching_90);
}

}  // namespace qkv
