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
#include "train/schema.h"

namespace qkv {
namespace fs = std::filesystem;

ScorerComparisonOptions default_scorer_comparison_options() {
  ScorerComparisonOptions o;
  // Recall learns far better with causal attention (README, Ready configs).
  o.tasks = {{"recall", {{"task", {{"name", "recall"}, {"pairs", 4}, {"vocab", 17}}},
                         {"train", {{"steps", 2000}}}, {"model", {{"causal", true}}}}},
             {"sort", {{"task", {{"name", "sort"}, {"seq_len", 17}, {"vocab", 16}}}}}};
  o.run = {{"model", {{"d_model", 32}, {"heads", 2}, {"layers", 2}, {"d_ff", 64}, {"positional", "sinusoidal"}}},
           {"task", {{"eval_batches", 8}}},
           {"optimizer", {{"name", "adam"}, {"lr", 3e-3}}},
           {"train", {{"steps", 1000}, {"batch_size", 32}, {"eval_interval", 50}, {"seed", 0}}}};
  return o;
}

ScorerComparisonOptions load_scorer_comparison_options(const std::string& path, const std::vector<std::string>& overrides) {
  ScorerComparisonOptions o = default_scorer_comparison_options();
  o.config_source = experiment_config_source(path, overrides);
  JsonReader root(read_experiment_config(path, overrides), o.config_source);
  root.string("out_dir", o.out_dir);
  root.string_list("scorers", o.scorers, comparison_scorer_choices());
  root.integer("relative_window", o.relative_window, 1, 4096);
  root.integer("seeds", o.seeds, 1, 1000);
  std::vector<JsonReader> tasks = root.object_list("tasks");
  if (!tasks.empty()) o.tasks.clear();
  for (size_t i = 0; i < tasks.size(); ++i) {
    nlohmann::json changes = nlohmann::json::object();
    for (const std::string& section : config_sections()) {
      nlohmann::json value;
      tasks[i].object(section, value);
      if (!value.is_null()) changes[section] = value;
    }
    tasks[i].check_unknown_keys();
    const nlohmann::json name = changes.value("task", nlohmann::json::object()).value("name", nlohmann::json());
    if (!name.is_string()) {
      tasks[i].problem("task.name", "the task's name (the key is required)", name.is_null() ? "no such key" : name.dump());
      continue;
    }
    for (const ScorerComparisonTask& before : o.tasks)
      if (before.name == name.get<std::string>()) tasks[i].problem("task.name", "a task not listed before", name.dump() + " again");
    o.tasks.push_back({name.get<std::string>(), changes});
  }
  read_run_keys(root, o.run);
  root.check_unknown_keys();
  root.throw_if_problems();
  scorer_comparison_training_runs(o);  // every run config checked before anything runs
  return o;
}

std::vector<RunConfig> scorer_comparison_training_runs(const ScorerComparisonOptions& options) {
  std::vector<RunConfig> runs;
  for (size_t t = 0; t < options.tasks.size(); ++t) {
    const ScorerComparisonTask& task = options.tasks[t];
    const std::string source = options.config_source + " run with tasks[" + std::to_string(t) + "]";
    nlohmann::json run = options.run;
    run.merge_patch(task.changes);
    const uint64_t first_seed = experiment_run_config(run, {}, source, options.out_dir).train.seed;
    for (const std::string& scorer : options.scorers)
      for (int64_t s = 0; s < options.seeds; ++s) {
        const uint64_t seed = first_seed + static_cast<uint64_t>(s);
        const nlohmann::json changes = {{"model", comparison_scorer_model(scorer, options.relative_window)},
                                        {"train", {{"seed", seed}}}};
        runs.push_back(experiment_run_config(
            run, changes, source, options.out_dir + "/runs/" + task.name + "_" + scorer + "_seed" + std::to_string(seed)));
      }
  }
  return runs;
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

// One row per (task, scorer) over its seeds: what a reader compares first. Its time per
// step goes to timing_summary beside it: two runs of a config give the same results, not
// the same timings.
Table summary_table(const std::vector<ScorerOutcome>& outcomes) {
  Table t({"task", "scorer", "mean_final_accuracy", "seeds_reaching_90", "steps_reaching_90", "parameter_count"});
  for (const ScorerOutcome& o : outcomes)
    t.add_row({o.task, o.scorer, o.mean_accuracy, std::to_string(o.reached_90) + "/" + std::to_string(o.runs),
               o.steps_reaching_90, o.parameter_count});
  return t;
}

Table summary_timing_table(const std::vector<ScorerOutcome>& outcomes) {
  Table t({"task", "scorer", "mean_ms_per_step_median"});
  for (const ScorerOutcome& o : outcomes) t.add_row({o.task, o.scorer, o.ms_per_step});
  return t;
}

std::string scorer_description(const std::string& scorer, int64_t window) {
  if (scorer == "additive") return "v^T tanh(W_q q + W_k k) (Bahdanau)";
  if (scorer == "dot") return "q . k, unscaled (Luong dot)";
  if (scorer == "general") return "q^T W k (Luong general)";
  if (scorer == "scaled_dot") return "q . k / sqrt(d_k) (Transformer)";
  if (scorer == "scaled_dot_relative")
    return "q . k / sqrt(d_k) + a learned bias per head and relative distance clipped to [-" + std::to_string(window) +
           ", " + std::to_string(window) + "] (Shaw et al.)";
  if (scorer == "mup_dot") return "q . k / d_k (muP)";
  if (scorer == "qk_norm") return "g q . k / (|q| |k|), g learned per head from sqrt(d_k) (QK-norm)";
  if (scorer == "learned_temperature") return "tau q . k, tau learned per head from 1/sqrt(d_k)";
  if (scorer == "learned_temperature_from_1") return "tau q . k, tau learned per head from 1";
  return "a kind registered with register_scorer() (its settings at their defaults)";
}
}  // namespace

std::vector<ScorerOutcome> scorer_outcomes(const std::vector<ScorerComparisonRow>& rows) {
  std::vector<ScorerOutcome> outcomes;
  std::vector<SeedTally> tallies;
  for (const ScorerComparisonRow& row : rows) {
    if (outcomes.empty() || outcomes.back().task != row.task || outcomes.back().scorer != row.scorer) {
      outcomes.push_back({.task = row.task, .scorer = row.scorer, .parameter_count = row.result.parameter_count});
      tallies.emplace_back();
    }
    tallies.back().add(row.result);
    outcomes.back().ms_per_step += row.result.median_seconds_per_step * 1e3;  // a sum until every run is in
  }
  for (size_t i = 0; i < outcomes.size(); ++i) {
    ScorerOutcome& o = outcomes[i];
    o.runs = tallies[i].runs;
    o.reached_90 = tallies[i].reached_90;
    o.mean_accuracy = tallies[i].mean_accuracy();
    o.steps_reaching_90 = tallies[i].steps_reaching_90;
    o.ms_per_step /= static_cast<double>(o.runs);
  }
  return outcomes;
}

std::string scorer_comparison_verdict(const std::vector<ScorerOutcome>& outcomes) {
  std::vector<std::string> tasks, scorers;
  for (const ScorerOutcome& o : outcomes) {
    if (std::find(tasks.begin(), tasks.end(), o.task) == tasks.end()) tasks.push_back(o.task);
    if (std::find(scorers.begin(), scorers.end(), o.scorer) == scorers.end()) scorers.push_back(o.scorer);
  }
  const auto learns = [](const ScorerOutcome& o) { return o.runs > 0 && o.reached_90 == o.runs; };
  bool scaled_ran = false, scaled_learns_all = true, contradicted = false;
  for (const ScorerOutcome& o : outcomes) {
    if (o.scorer != "scaled_dot") continue;
    scaled_ran = true;
    scaled_learns_all = scaled_learns_all && learns(o);
    if (o.reached_90 == 0)
      for (const ScorerOutcome& other : outcomes) contradicted = contradicted || (other.task == o.task && learns(other));
  }
  std::string learn_everywhere;  // the scorers that reached 90% in every run of every task
  for (const std::string& scorer : scorers)
    if (std::all_of(outcomes.begin(), outcomes.end(), [&](const auto& o) { return o.scorer != scorer || learns(o); })) {
      learn_everywhere += learn_everywhere.empty() ? "`" : ", `";
      learn_everywhere += scorer;
      learn_everywhere += "`";
    }

  std::ostringstream os;
  os << "**Claim** (implied by the Transformer's choice of it, Vaswani et al. 2017): scaled dot-product attention "
        "learns every one of these tasks. **Verdict: this run "
     << (!scaled_ran ? "cannot tell (scaled_dot was not among the scorers)"
         : contradicted ? "contradicts it"
         : scaled_learns_all ? "supports it"
                             : "cannot tell (scaled_dot learned in some seeds, not in others)")
     << ".** Scorers reaching 90% held-out accuracy in every run of every task: "
     << (learn_everywhere.empty() ? "none" : learn_everywhere)
     << ". Runs reaching 90%, and the median time per step in ms (mean over seeds; it varies with the machine's load "
        "and does not enter the verdict):";
  for (const std::string& task : tasks) {
    os << (task == tasks.front() ? " " : "; ") << task << ":";
    bool first = true;
    for (const ScorerOutcome& o : outcomes) {
      if (o.task != task) continue;
      os << (first ? " `" : ", `") << o.scorer << "` " << o.reached_90 << " of " << o.runs << " at "
         << report_number(o.ms_per_step);
      first = false;
    }
  }
  os << ".";
  return os.str();
}

std::vector<ScorerComparisonRow> run_scorer_comparison(const ScorerComparisonOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  std::vector<ScorerComparisonRow> rows;
  // Under mpirun the ranks share the training runs; rank 0 gathers and writes.
  const std::vector<RunConfig> cells = scorer_comparison_training_runs(options);
  const TrainingSweep sweep(cells);
  if (!dist::is_root()) return rows;
  fs::create_directories(dir);
  std::vector<std::string> images;
  size_t cell = 0;
  for (const ScorerComparisonTask& task : options.tasks) {
    const size_t first_row = rows.size();
    for (const std::string& scorer : options.scorers) {
      for (int64_t s = 0; s < options.seeds; ++s, ++cell) {
        ScorerComparisonRow row{task.name, scorer, cells[cell].train.seed, sweep.take(cell)};
        curve_table(row.result.curve).save(dir + "/" + curve_stem(row));
        log << task.name << " " << scorer << " seed " << row.seed << ": accuracy " << row.result.curve.back().eval_accuracy
            << ", 90% at " << step_text(row.result.step_reaching_90) << ", " << row.result.median_seconds_per_step * 1e3
            << " ms/step (median), " << row.result.parameter_count << " parameters\n";
        rows.push_back(std::move(row));
      }
    }
    // One colour per scorer, every seed's curve in it; the key names each scorer once.
    std::ostringstream plot;
    plot << "set yrange [0:1.02]\nset xlabel 'step'\nset ylabel 'held-out accuracy'\nset title "
         << gnuplot_string("Task " + task.name + " " + rows[first_row].result.config.task.options.dump() + ": scorers, " +
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
    if (render_plot(dir + "/accuracy_" + task.name, plot.str(), 1000, 600)) images.push_back("accuracy_" + task.name + ".png");
  }
  scorer_results_table(rows).save(dir + "/scorers");
  scorer_timing_table(rows).save(dir + "/timing");
  const std::vector<ScorerOutcome> outcomes = scorer_outcomes(rows);
  const Table summary = summary_table(outcomes);
  summary.save(dir + "/summary");
  summary_timing_table(outcomes).save(dir + "/timing_summary");

  // ---- report ----
  const RunConfig& b = cells.front();
  std::ostringstream md;
  md << "# Attention scorers compared\n\n" << scorer_comparison_verdict(outcomes) << "\n\n"
     << "Generated by `scorers` from `" << options.config_source << "`; every figure below was computed by this run.\n\n"
     << "The same model for every scorer: a " << b.model.layers << "-layer pre-LN transformer, d_model " << b.model.d_model
     << ", " << b.model.heads << " heads, d_ff " << b.model.d_ff << ", " << enum_name(b.model.positional)
     << " positions; " << enum_name(b.optimizer.name) << " lr " << b.optimizer.lr << ", batch " << b.train.batch_size << ", "
     << options.seeds << " seed(s) per cell from " << b.train.seed << "; held-out accuracy every "
     << b.train.eval_interval << " steps on " << b.task.eval_batches << " batches from another seed. Each run is an "
     << "ordinary run folder under `runs/`. Scorers:\n\n";
  for (const auto& s : options.scorers) md << "- `" << s << "`: " << scorer_description(s, options.relative_window) << "\n";
  md << "\nTasks:\n\n";
  for (size_t t = 0, cell = 0; t < options.tasks.size(); ++t, cell += options.scorers.size() * options.seeds) {
    const RunConfig& c = cells[cell];
    md << "- `" << c.task.name << "` " << c.task.options.dump() << ", " << c.train.steps << " steps"
       << (c.model.causal ? ", causal attention" : "") << "\n";
  }
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
