// The experiments' training runs are ordinary runs of train/: each is a RunConfig that the
// Trainer trains into its own run folder, so `train --resume`, `train --eval` and
// `plot_runs` work on every point of a sweep. What an experiment reports is read back from
// those folders: the curve from metrics.jsonl (held-out loss and accuracy) and probes.jsonl
// (attention entropy and dead rows, with probes.interval = train.eval_interval), the
// trained model from checkpoint.safetensors.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/sequence_model.h"
#include "tasks/task.h"
#include "train/config.h"

namespace qkv {

// An experiment's run config: `run` (the config's "run" object: a run config's sections)
// with `changes` merged into it (a JSON merge patch: what the sweep sets per run), in the
// folder run_dir. The experiment also sets train.plots = false (plot_runs draws a folder
// later) and probes.interval = train.eval_interval (the curve's attention statistics).
// Throws ConfigError naming `source`.
RunConfig experiment_run_config(const nlohmann::json& run, const nlohmann::json& changes, const std::string& source,
                                const std::string& run_dir);

// Trains `config` in this process into config.train.out_dir, replacing a run there, with
// no output. A loss or gradient that stops being finite ends the run early and leaves
// diverged.txt in the folder (a diverging run is a result of the sweep, not an error).
void train_run(const RunConfig& config);

struct CurvePoint {
  int64_t step = 0;
  double train_loss = 0;     // of that step's training batch
  double eval_loss = 0;      // held out
  double eval_accuracy = 0;  // held out
  // Of that step's training batch (probes.jsonl), over every head of every layer; NaN at a
  // step the probes did not record.
  double dead_fraction = 0;  // attention rows whose softmax Jacobian norm < 1e-3
  double mean_entropy = 0;   // nats
};

struct TrainedRun {
  std::string run_dir;
  RunConfig config;
  std::vector<CurvePoint> curve;  // at every evaluation; a diverged run ends on a NaN point
  int64_t step_reaching_90 = -1;  // first evaluated step with accuracy >= 0.9; -1: never
  int64_t diverged_step = -1;     // the step whose loss or gradient was not finite; -1: none
  double chance_accuracy = 0;
  double seconds_per_step = 0;         // mean over the training steps
  double median_seconds_per_step = 0;  // median of the per-step times: robust to a busy machine
  int64_t parameter_count = 0;
  // The trained model (eval mode) and its attention on one held-out input (task.eval_seed
  // + 1); none for a diverged run, which saved no checkpoint.
  std::shared_ptr<SequenceModel> model;
  std::shared_ptr<Task> task;
  Batch sample_input;
  std::vector<Tensor> sample_attention;  // every layer's weights [1, H, N, N], first to last
  Tensor sample_weights;                 // the last layer's
};

// Reads a run folder that train_run filled.
TrainedRun read_trained_run(const std::string& run_dir);

}  // namespace qkv
