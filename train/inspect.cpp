#include "train/inspect.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "train/build.h"
#include "train/heatmap.h"
#include "train/schema.h"

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

// --eval keeps the trained model as it is: an override of any other key is an error (it
// would evaluate a config the checkpoint was not trained with, or mean nothing here).
void check_eval_overrides(const std::vector<std::string>& overrides) {
  std::vector<std::string> problems;
  const std::vector<std::string>& allowed = eval_settable_keys();
  std::string allowed_list;
  for (const std::string& k : allowed) allowed_list += (allowed_list.empty() ? "" : ", ") + k;
  for (const std::string& o : overrides) {
    const std::string path = o.substr(0, o.find('='));
    if (std::find(allowed.begin(), allowed.end(), path) != allowed.end()) continue;
    const size_t dot = path.find('.');
    const bool known = dot != std::string::npos && find_key_spec(path.substr(0, dot), path.substr(dot + 1));
    const std::string guess = closest(path, allowed);
    problems.push_back("command line (--eval --set " + o + "): " + path + ": expected a key --eval applies (" +
                       allowed_list + "), found " +
                       (known ? "a key of the trained model or of its training, which --eval keeps as trained"
                              : "unknown key \"" + path + "\"") +
                       (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)"));
  }
  if (!problems.empty()) throw ConfigError(problems);
}

// "3 1 4 1" -> ids, each a token of the task's vocabulary, at most seq_len of them.
std::vector<int64_t> parse_input(const std::string& text, const Task& task) {
  const std::string source = "command line (--input \"" + text + "\"): --input: expected ";
  const std::string expected = "1 to " + std::to_string(task.seq_len()) + " token ids in [0, " +
                               std::to_string(task.vocab_size()) + ") separated by spaces";
  if (task.continuous())
    throw ConfigError({source + "a run of a token task, found task \"" + task.name() + "\", whose inputs are features"});
  std::istringstream in(text);
  std::vector<int64_t> ids;
  for (std::string word; in >> word;) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0 || id >= task.vocab_size())
      throw ConfigError({source + expected + ", found \"" + word + "\""});
    ids.push_back(id);
  }
  if (ids.empty() || static_cast<int64_t>(ids.size()) > task.seq_len())
    throw ConfigError({source + expected + ", found " + std::to_string(ids.size())});
  return ids;
}

// One heatmap per layer of the first example's attention weights, into dir.
std::vector<std::string> write_heatmaps(const SequenceModelOutput& forward, const std::string& dir,
                                        const std::string& what, std::ostream& out) {
  std::vector<std::string> made;
  std::filesystem::create_directories(dir);
  for (size_t l = 0; l < forward.attention_weights.size(); ++l) {
    const std::string stem = dir + "/attention_layer" + std::to_string(l);
    const Tensor first = slice(forward.attention_weights[l], 0, 0, 1);  // example 0: [1, H, N, N]
    if (write_heatmap(stem, first, "layer " + std::to_string(l) + ", " + what)) {
      made.push_back(stem + ".png");
      out << "heatmap: " << stem << ".png\n";
    }
  }
  return made;
}

}  // namespace

const std::vector<std::string>& eval_settable_keys() {
  static const std::vector<std::string> keys{"task.eval_seed", "task.eval_batches", "train.batch_size",
                                             "train.threads"};
  return keys;
}

Inspection inspect_run(const std::string& run_dir, const InspectOptions& options, std::ostream& out) {
  check_eval_overrides(options.overrides);
  const RunConfig config = load_run_config(run_dir, options.overrides, "--eval");
  configure_threads(config.train.threads);
  const std::unique_ptr<Task> task = make_task(config.task);
  const std::vector<int64_t> input = options.input.empty() ? std::vector<int64_t>{} : parse_input(options.input, *task);
  const std::shared_ptr<SequenceModel> model = load_trained_model(run_dir, config, *task);
  Inspection result;

  if (!input.empty()) {
    NoGradGuard no_grad;
    model->eval();
    model->keep_attention_weights(true);
    const int64_t n = static_cast<int64_t>(input.size());
    const SequenceModelOutput forward = model->forward(Indices::from(input, {1, n}));
    result.predicted = argmax(forward.logits).values;
    out << "input      " << ids_row(input, 0, n) << "\n"
        << "predicted  " << ids_row(result.predicted, 0, n) << "\n";
    if (!options.out_dir.empty()) result.heatmaps = write_heatmaps(forward, options.out_dir, "--input", out);
    return result;
  }

  const std::vector<Batch> held_out =
      held_out_batches(*task, config.task.eval_batches, config.train.batch_size, config.task.eval_seed);
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
  result.heatmaps = write_heatmaps(forward, options.out_dir.empty() ? run_dir + "/inspect" : options.out_dir,
                                   "held-out example 0", out);
  return result;
}

}  // namespace qkv
