// Trainer: one training run of a SequenceModel on a toy task, from a RunConfig, with
// everything around the loop: held-out evaluation, metrics files, progress output,
// checkpoints, exact resume, clean stop on Ctrl-C and a guard against non-finite values.
//
//   qkv::RunConfig config = qkv::load_config("configs/recall.json");
//   qkv::install_stop_handlers();              // optional: Ctrl-C stops cleanly
//   qkv::TrainResult result = qkv::Trainer(config).run();
//
// The run folder (config.train.out_dir) receives config.json (the resolved config),
// metrics.jsonl, metrics.csv, checkpoint.safetensors, probes.jsonl (with probes.interval)
// and plots/ (with train.plots; see docs/train.md).
// Under mpirun with several ranks the run is data parallel (dist/data_parallel.h): each rank
// trains on its rows of every batch, and rank 0 alone logs and writes the run folder.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/generator.h"
#include "dist/data_parallel.h"
#include "layers/dropout.h"
#include "layers/sequence_model.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tasks/task.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/probes.h"
#include "train/progress.h"

namespace qkv {

struct TrainerOptions {
  // Continue the run in config.train.out_dir from its checkpoint.safetensors. Without it,
  // a folder that already holds a run is refused unless overwrite is set.
  bool resume = false;
  bool overwrite = false;
  std::ostream* log = &std::cout;
  std::optional<bool> progress_bar = {};  // default: when stdout is a terminal
  // How messages that suggest a command ("continue with: train --resume DIR") name the
  // program: the command that runs it (argv[0], or an installed name such as qkv-train).
  std::string program = "train";
};

struct EvalResult {
  double loss = 0;      // mean cross-entropy over every scored position of the held-out set
  double accuracy = 0;  // over the same positions
};

enum class StopReason { finished, interrupted };

struct TrainResult {
  StopReason reason = StopReason::finished;
  int signal = 0;  // the signal that interrupted the run
  int64_t steps = 0;  // updates done in total (resumed ones included)
  std::optional<EvalResult> eval;  // the last evaluation of this session
};

// A loss or gradient that is not finite stopped the run. The last checkpoint written
// before it is left untouched.
class NonFiniteError : public std::runtime_error {
 public:
  NonFiniteError(int64_t step, std::string parameter, const std::string& message);
  int64_t step() const { return step_; }
  const std::string& parameter() const { return parameter_; }  // empty if only the loss was

 private:
  int64_t step_;
  std::string parameter_;
};

// The file names inside a run folder.
std::string run_config_path(const std::string& run_dir);      // config.json
std::string run_checkpoint_path(const std::string& run_dir);  // checkpoint.safetensors

// The config of an existing run folder (its config.json) with overrides applied, for
// --resume (typically only train.steps changes) or --eval, the option messages name.
RunConfig load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides = {},
                          const std::string& option = "--resume");

// Loss and accuracy of `model` (put in eval mode, then back in train mode) on `batches`,
// over every scored position.
EvalResult evaluate_model(SequenceModel& model, const std::vector<Batch>& batches);

// The model of a run folder: built from its config.json and given its checkpoint's weights.
std::shared_ptr<SequenceModel> load_trained_model(const std::string& run_dir, const RunConfig& config,
                                                  const Task& task);

class Trainer {
 public:
  // Builds task, model, optimiser and schedule, prepares the run folder and, with
  // options.resume, restores the checkpoint. Throws ConfigError, CheckpointError or
  // std::runtime_error with a message naming what is wrong.
  explicit Trainer(RunConfig config, TrainerOptions options = {});

  // Trains up to config.train.steps (or until stop_requested()). Throws NonFiniteError.
  TrainResult run();

  EvalResult evaluate();  // on the held-out batches, in eval mode
  void save_checkpoint();  // of the current state; refuses non-finite parameters

  SequenceModel& model() { return *model_; }
  Optimizer& optimizer() { return *optimizer_; }
  const Task& task() const { return *task_; }
  const RunConfig& config() const { return config_; }
  int64_t step() const { return step_; }
  int threads() const { return threads_; }

 private:
  SequenceModelOutput forward(const Batch& batch);
  void reseed_dropout();
  void check_finite(double loss, const GradientNorms& norms) const;
  void remove_stale_temp_files();
  void restore_checkpoint();
  void warm_start();
  void write_rows(const StepMetrics& metrics, const std::optional<ProbeRecord>& probe);
  void write_plots();
  std::string last_checkpoint_note() const;
  bool due(int64_t interval) const { return interval > 0 && step_ % interval == 0; }
  // Whether the step about to run (step_ + 1 once done) is due.
  bool due_next(int64_t interval) const { return interval > 0 && (step_ + 1) % interval == 0; }

  RunConfig config_;
  TrainerOptions options_;
  std::string run_dir_;
  int threads_ = 1;
  std::unique_ptr<Task> task_;
  Generator gen_;  // model initialisation, then training batches and dropout seeds
  std::shared_ptr<SequenceModel> model_;
  std::vector<std::string> parameter_names_;
  std::vector<Tensor> parameters_;
  std::vector<Dropout*> dropouts_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::vector<Batch> held_out_;
  int64_t step_ = 0;
  std::unique_ptr<MetricsLog> metrics_;  // rank 0 only
  std::unique_ptr<ProbeLog> probes_;     // rank 0 only, with probes.interval > 0
  std::unique_ptr<dist::GradientReducer> gradient_reducer_;  // under mpirun with several ranks
};

}  // namespace qkv
