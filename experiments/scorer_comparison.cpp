#include "experiments/scorer_comparison.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "dist/communicator.h"
#include "experiments/experiment_config.h"
#include "train/plot.h"
#include "experiments/probe_config.h"
#include "experiments/training_sweep.h"
#include "io/safetensors.h"
#include "tasks/task.h"

namespace qkv {
namespace fs = std::filesystem;

ScorerComparisonOptions default_scorer_comparison_options() {
  ScorerComparisonOptions o;
  o.tasks = {{"recall", {{"pairs", 4}, {"vocab", 17}}, 2000, /*causal=*/true},
             {"sort", {{"seq_len", 17}, {"vocab", 16}}, 1000}};
  TrainingProbeOptions& t = o.base;
  t.model.d_model = 32;
  t.model.heads = 2;
  t.model.layers = 2;
  t.model.d_ff = 64;
  t.model.positional = "sinusoidal";
  t.steps = 1000;
  t.batch_size = 32;
  t.lr = 3e-3;
  t.eval_interval = 50;
  t.eval_batches = 8;
  return o;
}

ScorerComparisonOptions load_scorer_comparison_options(const std::string& path, const std::vector<std::string>& overrides) {
  ScorerComparisonOptions o = default_scorer_comparison_options();
  o.config_source = path;
  JsonReader root(read_experiment_config(path, overrides), experiment_config_source(path, overrides));
  root.string("out_dir", o.out_dir);
  root.string_list("scorers", o.scorers, comparison_scorer_names());
  root.integer("relative_window", o.relative_window, 1, 4096);
  root.integer("seeds", o.seeds, 1, 1000);
  root.string("positional", o.base.model.positional, {"none", "sinusoidal", "learned"});
  std::vector<JsonReader> tasks = root.object_list("tasks");
  if (!tasks.empty()) o.tasks.assign(tasks.size(), {});
  for (size_t i = 0; i < tasks.size(); ++i) {
    ScorerComparisonTask& task = o.tasks[i];
    task.task.clear();
    if (!tasks[i].has("task")) tasks[i].problem("task", "a task name (the key is required)", "no such key");
    tasks[i].string("task", task.task, task_names());
    tasks[i].object("task_options", task.task_options);
    tasks[i].integer("steps", task.steps, 1, 10000000);
    tasks[i].boolean("causal", task.causal);
    tasks[i].check_unknown_keys();
    for (size_t j = 0; j < i && !task.task.empty(); ++j)
      if (o.tasks[j].task == task.task) tasks[i].problem("task", "a task not listed before", "\"" + task.task + "\" again");
  }
  JsonReader model = root.child("model");
  read_model_keys(model, o.base.model);
  model.check_unknown_keys();
  JsonReader training = root.child("training");
  read_training_keys(training, o.base);
  training.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  for (size_t i = 0; i < o.tasks.size(); ++i)
    check_task_options(root, "tasks[" + std::to_string(i) + "].task_options", o.tasks[i].task, o.tasks[i].task_options);
  root.throw_if_problems();
  return o;
}

Table scorer_results_table(const std::vector<ScorerComparisonRow>& rows) {
  Table t({"task", "scorer", "seed", "final_accuracy", "final_eval_loss", "step_reaching_90", "chance_accuracy",
           "parameter_count"});
  for (const auto& r : rows) {
    const CurvePoint& last = r.result.curve.back();
    t.add_row({r.task, r.scorer, static_cast<int64_t>(r.seed), last.eval_accuracy, last.eval_loss, step_text(r.result.step_reaching_90),
               r.result.chance_accuracy, r.result.parameter_count});
  }
  return t;
}

Table scorer_timing_table(const std::vector<ScorerComparisonRow>& rows) {
  Table t({"task", "scorer", "seed", "ms_per_step_median", "ms_per_step_mean"});
  for (const auto& r : rows)
    t.add_row({r.task, r.scorer, static_cast<int64_t>(r.seed), r.result.median_seconds_per_step * 1e3, r.result.seconds_per_step * 1e3});
  return t;
}

namespace {
std::string curve_stem(const ScorerComparisonRow& row) {
  return "curve_" + row.task + "_" + row.scorer + "_seed" + std::to_string(row.seed);
}

// What the report prints: the results with the median time per step beside them.
Table report_table(const std::vector<ScorerComparisonRow>& rows) {
  Table t({"task", "scorer", "seed", "final_accuracy", "step_reaching_90", "ms_per_step_median", "parameter_count"});
  for (const auto& r : rows)
    t.add_row({r.task, r.scorer, static_cast<int64_t>(r.seed), r.result.curve.back().eval_accuracy, step_text(r.result.step_reaching_90),
               r.result.median_seconds_per_step * 1e3, r.result.parameter_count});
  return t;
}

// One row per (task, scorer) over its seeds: what a reader compares first.
Table summary_table(const std::vector<ScorerComparisonRow>& rows) {
  Table t({"task", "scorer", "mean_final_accuracy", "seeds_reaching_90", "steps_reaching_90",
           "mean_ms_per_step_median", "parameter_count"});
  for (size_t i = 0; i < rows.size();) {
    size_t end = i;
    double accuracy = 0, ms = 0;
    int64_t reached = 0;
    std::string steps;
    for (; end < rows.size() && rows[end].task == rows[i].task && rows[end].scorer == rows[i].scorer; ++end) {
      accuracy += rows[end].result.curve.back().eval_accuracy;
      ms += rows[end].result.median_seconds_per_step * 1e3;
      reached += rows[end].result.step_reaching_90 >= 0;
      if (end > i) steps += "/";
      steps += step_text(rows[end].result.step_reaching_90);
    }
    const double n = static_cast<double>(end - i);
    t.add_row({rows[i].task, rows[i].scorer, accuracy / n, std::to_string(reached) + "/" + std::to_string(end - i), steps,
               ms / n, rows[i].result.parameter_count});
    i = end;
  }
  return t;
}

std::string scorer_description(const std::string& scorer, int64_t window) {
  if (scorer == "additive") return "v^T tanh(W_q q + W_k k) (Bahdanau)";
  if (scorer == "dot") return "q . k, unscaled (Luong dot)";
  if (scorer == "general") return "q^T W k (Luong general)";
  if (scorer == "scaled_dot") return "q . k / sqrt(d_k) (Transformer)";
  return "q . k / sqrt(d_k) + a learned bias per head and relative distance clipped to [-" + std::to_string(window) +
         ", " + std::to_string(window) + "] (Shaw et al.)";
}
}  // namespace

std::vector<ScorerComparisonRow> run_scorer_comparison(const ScorerComparisonOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  std::vector<ScorerComparisonRow> rows;
  // Under mpirun the ranks share the training runs; rank 0 gathers and writes.
  std::vector<TrainingProbeOptions> cells;
  for (const ScorerComparisonTask& task : options.tasks)
    for (const std::string& scorer : options.scorers)
      for (int64_t s = 0; s < options.seeds; ++s) {
        TrainingProbeOptions t = options.base;
        t.task = task.task;
        t.task_options = task.task_options;
        if (task.steps > 0) t.steps = task.steps;
        t.model.causal = task.causal;
        t.model.scorer = comparison_scorer(scorer, options.relative_window);
        t.seed = options.base.seed + static_cast<uint64_t>(s);
        cells.push_back(t);
      }
  TrainingSweep sweep(cells);
  if (!dist::is_root()) return rows;
  fs::create_directories(dir);
  std::vector<std::string> images;
  size_t cell = 0;
  for (const ScorerComparisonTask& task : options.tasks) {
    const size_t first_row = rows.size();
    for (const std::string& scorer : options.scorers) {
      for (int64_t s = 0; s < options.seeds; ++s, ++cell) {
        ScorerComparisonRow row{task.task, scorer, cells[cell].seed, sweep.take(cell).result};
        curve_table(row.result.curve).save(dir + "/" + curve_stem(row));
        log << task.task << " " << scorer << " seed " << row.seed << ": accuracy " << row.result.curve.back().eval_accuracy
            << ", 90% at " << step_text(row.result.step_reaching_90) << ", " << row.result.median_seconds_per_step * 1e3
            << " ms/step (median), " << row.result.parameter_count << " parameters\n";
        rows.push_back(std::move(row));
      }
    }
    // One colour per scorer, every seed's curve in it; the key names each scorer once.
    std::ostringstream plot;
    plot << "set yrange [0:1.02]\nset xlabel 'step'\nset ylabel 'held-out accuracy'\nset title "
         << gnuplot_string("Task " + task.task + " " + task.task_options.dump() + ": scorers, " +
                           std::to_string(options.seeds) + " seed(s) each")
         << "\nplot ";
    for (size_t i = first_row; i < rows.size(); ++i) {
      const auto scorer_index = static_cast<size_t>(
          std::find(options.scorers.begin(), options.scorers.end(), rows[i].scorer) - options.scorers.begin());
      const bool first = i == first_row || rows[i - 1].scorer != rows[i].scorer;
      plot << (i > first_row ? ", " : "") << gnuplot_string(curve_stem(rows[i]) + ".csv")
           << " skip 1 using 1:4 with lines lw 2 lc rgb '" << line_color(scorer_index) << "' "
           << (first ? "title " + gnuplot_string(rows[i].scorer) : std::string("notitle"));
    }
    plot << ", " << rows.back().result.chance_accuracy << " with lines dt 3 lw 2 lc rgb 'gray40' title 'chance'\n";
    if (render_plot(dir + "/accuracy_" + task.task, plot.str(), 1000, 600)) images.push_back("accuracy_" + task.task + ".png");
  }
  scorer_results_table(rows).save(dir + "/scorers");
  scorer_timing_table(rows).save(dir + "/timing");
  const Table summary = summary_table(rows);
  summary.save(dir + "/summary");

  // ---- report ----
  const TrainingProbeOptions& b = options.base;
  std::ostringstream md;
  md << "# Attention scorers compared\n\n"
     << "Generated by `scorers` from `" << options.config_source << "`; every figure below was computed by this run.\n\n"
     << "The same model for every scorer: a " << b.model.layers << "-layer pre-LN transformer, d_model " << b.model.d_model
     << ", " << b.model.heads << " heads, d_ff " << b.model.d_ff << ", " << b.model.positional
     << " positions; Adam lr " << b.lr << ", batch " << b.batch_size << ", " << options.seeds
     << " seed(s) per cell from " << b.seed << "; held-out accuracy every " << b.eval_interval << " steps on " << b.eval_batches
     << " batches from another seed. Scorers:\n\n";
  for (const auto& s : options.scorers) md << "- `" << s << "`: " << scorer_description(s, options.relative_window) << "\n";
  md << "\nTasks:\n\n";
  for (const auto& task : options.tasks)
    md << "- `" << task.task << "` " << task.task_options.dump() << ", " << (task.steps > 0 ? task.steps : b.steps)
       << " steps" << (task.causal ? ", causal attention" : "") << "\n";
  md << "\nPer task and scorer, over the seeds (`steps_reaching_90` lists each seed's step):\n\n"
     << summary.markdown() << "\nEvery run:\n\n" << report_table(rows).markdown() << "\n"
     << "`step_reaching_90` is the first evaluated step with held-out accuracy >= 0.9. `ms_per_step_median` is the "
     << "median wall time of one training step (sample, forward, backward, Adam update) over the run; medians resist "
     << "a busy machine better than means, but compare them within one run only. `parameter_count` counts every "
     << "trainable scalar of the model: the scorers differ by their own parameters (general: a d_head x d_head matrix "
     << "per head; additive: two projections and a vector per head; relative: one scalar per head and distance "
     << "bucket). Results are in `scorers.csv`, timings apart in `timing.csv`.\n\n"
     << "Chance accuracy per task:\n\n";
  std::map<std::string, double> chance;
  for (const auto& r : rows) chance[r.task] = r.result.chance_accuracy;
  for (const auto& [task, c] : chance) md << "- `" << task << "`: " << c << "\n";
  md << "\n";
  for (const auto& img : images) md << "![" << img << "](" << img << ")\n\n";
  if (!gnuplot_available())
    md << "_gnuplot was not found: the data and the gnuplot scripts (`*.gp`) are written, the PNGs are not. "
          "Install gnuplot-nox and run `gnuplot NAME.gp` in this folder._\n";
  write_file_atomically(dir + "/report.md", md.str());
  return rows;
}

}  // namespace qkv
