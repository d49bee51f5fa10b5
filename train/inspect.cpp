#include "train/inspect.h"

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "train/heatmap.h"

namespace qkv {
namespace {

// One example's row of ids: "3 7 _ 2", with "_" where the position is not scored.
std::string ids_row(const std::vector<int64_t>& values, int64_t from, int64_t count,
                    const std::vector<int64_t>* scored_by = nullptr) {
  std::ostringstream s;
  for (int64_t i = 0; i < count; ++i) {
    if (i) s << " ";
    if (scored_by && (*scored_by)[from + i] == kIgnore) s << std::setw(2) << "_";
    else s << std::setw(2) << values[from + i];
  }
  return s.str();
}

}  // namespace

Inspection inspect_run(const std::string& run_dir, const InspectOptions& options, std::ostream& out) {
  const RunConfig config = load_run_config(run_dir, {}, "--eval");
  const std::unique_ptr<Task> task = make_task(config.task);
  const std::shared_ptr<SequenceModel> model = load_trained_model(run_dir, config, *task);
  const std::vector<Batch> held_out =
      held_out_batches(*task, config.task.eval_batches, config.train.batch_size, config.task.eval_seed);

  Inspection result;
  result.eval = evaluate_model(*model, held_out);
  result.chance_accuracy = task->chance_accuracy();
  out << std::fixed << std::setprecision(4) << "run " << run_dir << ": task " << task->name() << ", "
      << config.model.scorer << " scorer, " << config.model.layers << " layers, " << config.model.heads << " heads\n"
      << "held-out accuracy " << result.eval.accuracy << ", loss " << result.eval.loss << " ("
      << held_out.size() << " batches of " << config.train.batch_size << "; chance " << result.chance_accuracy << ")\n";

  // The first held-out batch once more, keeping the attention weights.
  NoGradGuard no_grad;
  model->eval();
  model->keep_attention_weights(true);
  const Batch& batch = held_out.front();
  const SequenceModelOutput forward =
      batch.features.defined() ? model->forward(batch.features) : model->forward(batch.tokens);
  const Indices predicted = argmax(forward.logits);
  const int64_t n = task->seq_len();
  const int64_t shown = std::min<int64_t>(options.examples, batch.targets.shape[0]);
  for (int64_t e = 0; e < shown; ++e) {
    const int64_t from = e * n;
    int64_t right = 0, scored = 0;
    for (int64_t i = from; i < from + n; ++i)
      if (batch.targets.values[i] != kIgnore) ++scored, right += predicted.values[i] == batch.targets.values[i];
    out << "example " << e << " (" << right << " of " << scored << " scored positions right)\n";
    if (!batch.features.defined()) out << "  input      " << ids_row(batch.tokens.values, from, n) << "\n";
    else out << "  input      " << n << " positions of " << batch.features.size(-1) << " features\n";
    out << "  target     " << ids_row(batch.targets.values, from, n, &batch.targets.values) << "\n"
        << "  predicted  " << ids_row(predicted.values, from, n, &batch.targets.values) << "\n";
  }

  const std::string dir = options.out_dir.empty() ? run_dir + "/inspect" : options.out_dir;
  std::filesystem::create_directories(dir);
  for (size_t l = 0; l < forward.attention_weights.size(); ++l) {
    const std::string stem = dir + "/attention_layer" + std::to_string(l);
    const Tensor first = slice(forward.attention_weights[l], 0, 0, 1);  // example 0: [1, H, N, N]
    if (write_heatmap(stem, first, "layer " + std::to_string(l) + ", held-out example 0")) {
      result.heatmaps.push_back(stem + ".png");
      out << "heatmap: " << stem << ".png\n";
    }
  }
  return result;
}

}  // namespace qkv
