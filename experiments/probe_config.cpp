#include "experiments/probe_config.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace qkv {

void read_run_keys(JsonReader& reader, nlohmann::json& run) {
  if (!reader.has("run")) return;
  nlohmann::json value;
  reader.object("run", value);
  if (!value.is_object()) return reader.problem("run", "a run config (an object of sections)", value.type_name());
  run.merge_patch(value);
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
                              nlohmann::json& run) {
  reader.boolean("enabled", enabled);
  reader.integer_list("d_k", d_ks, 1, 8192);
  reader.integer("seeds", seeds, 1, 1000);
  read_run_keys(reader, run);
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
    s.relative_bias = RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = relative_window};
    return s;
  }
  if (name == "learned_temperature_from_1") {
    s.kind = "learned_temperature";
    s.scale = ScoreScale::none();
    return s;
  }
  for (const auto& known : comparison_scorer_choices())
    if (known == name) {
      s.kind = name;
      return s;
    }
  std::string known;
  for (const auto& k : comparison_scorer_choices()) known += std::string(known.empty() ? "" : ", ") + k;
  throw std::invalid_argument("comparison_scorer: unknown scorer \"" + name + "\"; known: " + known);
}

std::vector<std::string> comparison_scorer_choices() {
  std::vector<std::string> names = comparison_scorer_names();
  for (const std::string& kind : scorer_kinds())
    if (std::find(names.begin(), names.end(), kind) == names.end()) names.push_back(kind);
  return names;
}

nlohmann::json comparison_scorer_model(const std::string& name, int64_t relative_window) {
  const ScorerOptions s = comparison_scorer(name, relative_window);  // refuses an unknown name
  nlohmann::json model = {{"scorer", s.kind}};
  if (s.relative_bias.kind == RelativeBiasKind::clipped) {
    model["relative_bias"] = "clipped";
    model["relative_window"] = relative_window;
  }
  if (name == "learned_temperature_from_1") model["scale"] = "none";
  return model;
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

void SeedTally::add(const TrainedRun& run) {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on "literal" + std::string.
  if (runs) steps_reaching_90 += "/";
  steps_reaching_90 += step_text(run.step_reaching_90);
  ++runs;
  reached_90 += run.step_reaching_90 >= 0;
  final_accuracy_sum += run.curve.back().eval_accuracy;
}

double SeedTally::mean_accuracy() const { return runs ? final_accuracy_sum / static_cast<double>(runs) : 0; }

}  // namespace qkv
