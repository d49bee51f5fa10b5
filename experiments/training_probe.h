// Short training runs for the experiments: one model, one task, a fixed budget, and a
// curve of held-out loss, accuracy and softmax saturation along the way.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/sequence_model.h"
#include "tasks/task.h"

namespace qkv {

struct TrainingProbeOptions {
  SequenceModelOptions model;  // vocab, classes and max_len are taken from the task
  std::string task = "reverse";
  nlohmann::json task_options = nlohmann::json::object();
  int64_t steps = 600;
  int64_t batch_size = 32;
  double lr = 1e-3;  // Adam
  int64_t eval_interval = 50;
  int64_t eval_batches = 4;
  uint64_t seed = 0;
  uint64_t eval_seed = 1000003;
};

struct CurvePoint {
  int64_t step = 0;
  double train_loss = 0;
  double eval_loss = 0;
  double eval_accuracy = 0;
  double dead_fraction = 0;  // attention rows whose softmax Jacobian norm < 1e-3 (all layers)
  double mean_entropy = 0;   // attention entropy, nats (all layers)
};

struct TrainingProbeResult {
  std::vector<CurvePoint> curve;
  int64_t step_reaching_90 = -1;  // first evaluated step with accuracy >= 0.9; -1: never
  double chance_accuracy = 0;
  double seconds_per_step = 0;         // mean over the training steps
  double median_seconds_per_step = 0;  // median of the per-step times: robust to a busy machine
  int64_t parameter_count = 0;
  Tensor sample_weights;  // last layer's attention weights [1, H, N, N] on one held-out input
  std::vector<Tensor> sample_attention;   // every layer's weights on that input, first to last
  Batch sample_input;                     // that input
  std::shared_ptr<SequenceModel> model;  // the trained model (eval mode), for checks after training
};

TrainingProbeResult run_training_probe(const TrainingProbeOptions& options);

// Fraction of scored positions (target != kIgnore) whose argmax logit is the target.
double token_accuracy(const Tensor& logits, const Indices& targets);

}  // namespace qkv
