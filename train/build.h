// Building a run's parts from its RunConfig: the model (ModelConfig mapped onto
// SequenceModelOptions, sized by the task), the optimiser, the learning-rate schedule and
// the thread count. Trainer uses these; a user's own loop can use them too.
#pragma once

#include <memory>

#include "core/generator.h"
#include "layers/init.h"
#include "layers/sequence_model.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tasks/task.h"
#include "train/config.h"

namespace qkv {

// ModelConfig plus what the task decides: vocabulary or input features, classes, max_len.
SequenceModelOptions sequence_model_options(const ModelConfig& model, const Task& task);

// The initialiser model.init names (init_std for "normal").
Init weight_init(const ModelConfig& model);

// Re-draws every weight matrix (a parameter of rank >= 2: the Linear weights of the
// attention projections, feed-forward and head, and the scorers' matrices) with `init`.
// Biases, normalisation gains, the token embedding and the positional and relative-bias
// tables keep the layers' own initialisation. Parameters are drawn in named_parameters
// order, so the same generator state gives the same model.
void initialize_weights(Module& model, const Init& init, Generator& gen);

// SequenceModel built from gen, then initialize_weights with model.init.
std::shared_ptr<SequenceModel> build_model(const ModelConfig& model, const Task& task, Generator& gen);

// The optimiser over model's parameters; with no_decay_on_bias_and_norm the parameters are
// split by weight_decay_groups so biases and normalisation gains get no decay.
std::unique_ptr<Optimizer> build_optimizer(const OptimizerConfig& config, const Module& model);

// The schedule over a run of total_steps updates (schedule positions 0 .. total_steps-1):
// cosine and warmup_* decay so that the last update runs at min_lr.
std::unique_ptr<Schedule> build_schedule(const ScheduleConfig& config, int64_t total_steps);

// Memory a run would need at its peak, from its sizes alone, before anything is allocated:
// load_config refuses a config whose total exceeds the machine's memory rather than let
// it fail later with std::bad_alloc. An estimate (within a few percent for parameters,
// an upper-end count of what one step keeps alive for its backward pass), in bytes.
struct MemoryEstimate {
  double parameters = 0;   // weights, gradients and the optimizer's per-parameter state
  double activations = 0;  // what a training step keeps alive for its backward pass
  double held_out = 0;     // the held-out batches, kept for the whole run
  double total() const { return parameters + activations + held_out; }
};

// The sizes of a task that set a model's size (Task's own accessors, copied so that an
// estimate can be made for sizes no task was built with).
struct TaskSizes {
  int64_t vocab_size = 0;   // 0 for continuous tasks
  int64_t feature_dim = 0;  // 0 for token tasks
  int64_t num_classes = 0;
  int64_t seq_len = 0;
  static TaskSizes of(const Task& task);
};

double estimated_parameter_count(const ModelConfig& model, const TaskSizes& task);
MemoryEstimate estimate_memory(const RunConfig& config, const TaskSizes& task);

// The config key (e.g. "model.d_model") whose value drives the estimate most: the one that,
// set to 1, lowers it the most.
std::string largest_memory_key(const RunConfig& config, const TaskSizes& task);

// Physical memory of this machine, in bytes.
double machine_memory_bytes();

// Sets the OpenMP thread count (threads 0 leaves OpenMP's default, e.g. OMP_NUM_THREADS)
// and returns the number of threads that will run.
int configure_threads(int64_t threads);

}  // namespace qkv
