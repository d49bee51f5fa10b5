#include "experiments/training_probe.h"

#include <algorithm>
#include <chrono>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "train/softmax_stats.h"
#include "optim/adam.h"
#include "tasks/task.h"

namespace qkv {
namespace {
SequenceModelOutput forward(SequenceModel& model, const Batch& batch) {
  return batch.features.defined() ? model.forward(batch.features) : model.forward(batch.tokens);
}
}  // namespace

double token_accuracy(const Tensor& logits, const Indices& targets) {
  const int64_t classes = logits.size(-1);
  int64_t scored = 0, right = 0;
  for (size_t r = 0; r < targets.values.size(); ++r) {
    if (targets.values[r] == kIgnore) continue;
    const Scalar* row = logits.data() + static_cast<int64_t>(r) * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    ++scored;
    right += best == targets.values[r];
  }
  return scored ? static_cast<double>(right) / static_cast<double>(scored) : 0;
}

TrainingProbeResult run_training_probe(const TrainingProbeOptions& options) {
  const auto task = make_task(options.task, options.task_options);
  SequenceModelOptions model_options = options.model;
  model_options.vocab_size = task->vocab_size();
  model_options.input_features = task->feature_dim();
  model_options.num_classes = task->num_classes();
  model_options.max_len = task->seq_len();
  Generator gen(options.seed);
  const auto model_ptr = std::make_shared<SequenceModel>(model_options, gen);
  SequenceModel& model = *model_ptr;
  Adam optimizer(model.named_parameters(), AdamOptions{.lr = options.lr});
  const std::vector<Batch> held_out = held_out_batches(*task, options.eval_batches, options.batch_size, options.eval_seed);

  TrainingProbeResult result;
  result.chance_accuracy = task->chance_accuracy();
  for (const auto& [name, p] : model.named_parameters()) result.parameter_count += p.numel();
  auto evaluate = [&](int64_t step, double train_loss) {
    NoGradGuard no_grad;
    model.eval();
    model.keep_attention_weights(true);
    CurvePoint p{.step = step, .train_loss = train_loss};
    for (const Batch& batch : held_out) {
      SequenceModelOutput out = forward(model, batch);
      p.eval_loss += cross_entropy(out.logits, batch.targets, kIgnore).item();
      p.eval_accuracy += token_accuracy(out.logits, batch.targets);
      for (const Tensor& w : out.attention_weights) {
        const SoftmaxStats s = softmax_stats(w);
        p.dead_fraction += s.dead_fraction;
        p.mean_entropy += s.mean_entropy;
      }
    }
    const double n = static_cast<double>(held_out.size());
    const double layers = n * static_cast<double>(model_options.layers);
    p.eval_loss /= n;
    p.eval_accuracy /= n;
    p.dead_fraction /= layers;
    p.mean_entropy /= layers;
    model.keep_attention_weights(false);
    model.train();
    result.curve.push_back(p);
    if (result.step_reaching_90 < 0 && p.eval_accuracy >= 0.9) result.step_reaching_90 = step;
  };

  double train_loss = 0;
  std::vector<double> step_seconds;
  step_seconds.reserve(static_cast<size_t>(std::max<int64_t>(options.steps, 0)));
  evaluate(0, 0);
  for (int64_t step = 1; step <= options.steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const Batch batch = task->sample(options.batch_size, gen);
    Tensor loss = cross_entropy(forward(model, batch).logits, batch.targets, kIgnore);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    train_loss = loss.item();
    step_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (step % options.eval_interval == 0 || step == options.steps) evaluate(step, train_loss);
  }
  if (!step_seconds.empty()) {
    double total = 0;
    for (double s : step_seconds) total += s;
    result.seconds_per_step = total / static_cast<double>(step_seconds.size());
    const auto middle = step_seconds.begin() + static_cast<std::ptrdiff_t>(step_seconds.size() / 2);
    std::nth_element(step_seconds.begin(), middle, step_seconds.end());
    result.median_seconds_per_step = *middle;
  }

  // Attention of the last layer on the first held-out input, for heatmaps.
  NoGradGuard no_grad;
  model.eval();
  model.keep_attention_weights(true);
  Generator sample_gen(options.eval_seed + 1);
  result.sample_input = task->sample(1, sample_gen);
  result.sample_attention = forward(model, result.sample_input).attention_weights;
  result.sample_weights = result.sample_attention.back();
  model.keep_attention_weights(false);
  result.model = model_ptr;
  return result;
}

}  // namespace qkv
