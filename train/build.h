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

// Sets the OpenMP thread count (threads 0 leaves OpenMP's default, e.g. OMP_NUM_THREADS)
// and returns the number of threads that will run.
int configure_threads(int64_t threads);

}  // namespace qkv
