#include "experiments/training_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <ostream>

#include "core/autograd.h"
#include "io/regular_file.h"
#include "io/safetensors.h"
#include "train/build.h"
#include "train/run_logs.h"
#include "train/trainer.h"

namespace qkv {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr const char* kDivergedFile = "diverged.txt";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::ostream& no_output() {
  static std::ostream sink(nullptr);
  return sink;
}

// "the run stopped at step N: ..." -> N.
int64_t diverged_step_of(const std::string& run_dir) {
  const fs::path path = fs::path(run_dir) / kDivergedFile;
  if (!fs::exists(path)) return -1;
  const std::string text = read_regular_file(path.string(), 1 << 16);
  return std::stoll(text.substr(0, text.find('\n')));
}
}  // namespace

RunConfig experiment_run_config(const json& run, const json& changes, const std::string& source,
                                const std::string& run_dir) {
  json config = run;
  if (!changes.is_null()) config.merge_patch(changes);  // a null patch would replace the whole config
  config["train"]["out_dir"] = run_dir;
  config["train"]["plots"] = false;
  // The curve's attention statistics come from probes.jsonl, at the evaluation steps.
  const json& interval = config["train"].value("eval_interval", json());
  if (interval.is_number_integer() && interval.get<int64_t>() > 0) config["probes"]["interval"] = interval;
  return resolve_config(config, source);
}

void train_run(const RunConfig& config) {
  const std::string& dir = config.train.out_dir;
  fs::remove(fs::path(dir) / kDivergedFile);
  try {
    Trainer(config, TrainerOptions{.overwrite = true, .log = &no_output(), .progress_bar = false}).run();
  } catch (const NonFiniteError& e) {
    write_file_atomically((fs::path(dir) / kDivergedFile).string(),
                          std::to_string(e.step()) + "\n" + std::string(e.what()) + "\n");
  }
}

TrainedRun read_trained_run(const std::string& run_dir) {
  TrainedRun run;
  run.run_dir = run_dir;
  run.config = load_run_config(run_dir, {}, "experiment run");
  run.task = make_task(run.config.task);
  run.chance_accuracy = run.task->chance_accuracy();
  run.diverged_step = diverged_step_of(run_dir);

  const std::vector<MetricsRow> metrics = read_metrics_jsonl((fs::path(run_dir) / "metrics.jsonl").string());
  ProbesTable probes;
  if (fs::exists(fs::path(run_dir) / "probes.jsonl")) probes = read_probes_jsonl((fs::path(run_dir) / "probes.jsonl").string());
  size_t probe_row = 0;
  std::vector<double> step_seconds;
  for (const MetricsRow& m : metrics) {
    step_seconds.push_back(m.step_time);
    if (!m.eval_accuracy) continue;
    CurvePoint p{.step = m.step, .train_loss = m.loss, .eval_loss = m.eval_loss.value_or(kNaN),
                 .eval_accuracy = *m.eval_accuracy, .dead_fraction = kNaN, .mean_entropy = kNaN};
    while (probe_row < probes.rows.size() && probes.rows[probe_row].step < m.step) ++probe_row;
    if (probe_row < probes.rows.size() && probes.rows[probe_row].step == m.step) {
      // Per head: entropy, jacobian_norm, dead_fraction, max_weight (train/run_logs.h).
      const std::vector<double>& a = probes.rows[probe_row].attention;
      const double heads = static_cast<double>(probes.heads());
      p.mean_entropy = p.dead_fraction = 0;
      for (size_t h = 0; h < probes.heads(); ++h) {
        p.mean_entropy += a[4 * h] / heads;
        p.dead_fraction += a[4 * h + 2] / heads;
      }
    }
    run.curve.push_back(p);
    if (run.step_reaching_90 < 0 && p.eval_accuracy >= 0.9) run.step_reaching_90 = p.step;
  }
  if (!step_seconds.empty()) {
    double total = 0;
    for (double s : step_seconds) total += s;
    run.seconds_per_step = total / static_cast<double>(step_seconds.size());
    const auto middle = step_seconds.begin() + static_cast<std::ptrdiff_t>(step_seconds.size() / 2);
    std::nth_element(step_seconds.begin(), middle, step_seconds.end());
    run.median_seconds_per_step = *middle;
  }
  if (run.diverged_step >= 0) {
    run.curve.push_back({.step = run.diverged_step, .train_loss = kNaN, .eval_loss = kNaN, .eval_accuracy = kNaN,
                         .dead_fraction = kNaN, .mean_entropy = kNaN});
    Generator gen(run.config.train.seed);
    run.parameter_count = build_model(run.config.model, *run.task, gen)->parameter_count();
    return run;
  }

  run.model = load_trained_model(run_dir, run.config, *run.task);
  run.parameter_count = run.model->parameter_count();
  NoGradGuard no_grad;
  run.model->eval();
  run.model->keep_attention_weights(true);
  Generator sample_gen(run.config.task.eval_seed + 1);
  run.sample_input = run.task->sample(1, sample_gen);
  const Batch& in = run.sample_input;
  run.sample_attention = (in.features.defined() ? run.model->forward(in.features) : run.model->forward(in.tokens)).attention_weights;
  run.sample_weights = run.sample_attention.back();
  run.model->keep_attention_weights(false);
  return run;
}

}  // namespace qkv
