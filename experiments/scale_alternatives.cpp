#include "experiments/scale_alternatives.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "dist/communicator.h"
#include "experiments/experiment_config.h"
#include "train/heatmap.h"
#include "train/plot.h"
#include "experiments/probe_config.h"
#include "experiments/table.h"
#include "experiments/training_sweep.h"
#include "experiments/vanishing.h"
#include "io/safetensors.h"
#include "tasks/task.h"

namespace qkv {
namespace fs = std::filesystem;

ScaleAlternativesOptions default_scale_alternatives_options() {
  ScaleAlternativesOptions o;
  o.probe.scorers = {"dot", "scaled_dot", "mup_dot", "qk_norm", "learned_temperature", "learned_temperature_from_1"};
  // vanishing's model and task, so that the two experiments' unscaled and scaled runs compare.
  o.run = default_vanishing_options().training.run;
  // 300 steps, not vanishing's 400: six alternatives at five widths must fit in five
  // minutes on two cores, and the d_k = 1024 runs cost two thirds of that.
  o.run["train"]["steps"] = 300;
  return o;
}

ScaleAlternativesOptions load_scale_alternatives_options(const std::string& path, const std::vector<std::string>& overrides) {
  ScaleAlternativesOptions o = default_scale_alternatives_options();
  o.config_source = experiment_config_source(path, overrides);
  JsonReader root(read_experiment_config(path, overrides), o.config_source);
  root.string("out_dir", o.out_dir);
  root.string_list("scorers", o.probe.scorers, comparison_scorer_choices());

  JsonReader probe = root.child("probe");
  read_init_probe_keys(probe, o.probe);
  probe.check_unknown_keys();

  JsonReader training = root.child("training");
  read_sweep_training_keys(training, o.run_training, o.training_d_ks, o.seeds, o.run);
  training.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  if (o.run_training) scale_alternatives_training_runs(o);  // every run config checked before anything runs
  return o;
}

std::vector<RunConfig> scale_alternatives_training_runs(const ScaleAlternativesOptions& options) {
  const std::string source = options.config_source + " training.run";
  const uint64_t first_seed = experiment_run_config(options.run, {}, source, options.out_dir).train.seed;
  std::vector<RunConfig> runs;
  for (const std::string& scorer : options.probe.scorers)
    for (int64_t d_k : options.training_d_ks)
      for (int64_t s = 0; s < options.seeds; ++s) {
        const uint64_t seed = first_seed + static_cast<uint64_t>(s);
        nlohmann::json model = comparison_scorer_model(scorer, /*relative_window=*/8);
        model["d_head"] = d_k;
        const nlohmann::json changes = {{"model", model}, {"train", {{"seed", seed}}}};
        runs.push_back(experiment_run_config(
            options.run, changes, source,
            options.out_dir + "/runs/" + scorer + "_dk" + std::to_string(d_k) + "_seed" + std::to_string(seed)));
      }
  return runs;
}

namespace {

// The learned scale of a trained model: g of qk_norm, exp(log_temperature) of
// learned_temperature, averaged over heads and layers; NaN for scorers without one.
double learned_scale(const Module& model) {
  NoGradGuard no_grad;
  double total = 0;
  int64_t count = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    const bool log_tau = name.size() >= 15 && name.compare(name.size() - 15, 15, "log_temperature") == 0;
    const bool g = name.size() >= 12 && name.compare(name.size() - 12, 12, "scorer.scale") == 0;
    for (int64_t i = 0; (log_tau || g) && i < p.numel(); ++i, ++count) total += log_tau ? std::exp(p.data()[i]) : p.data()[i];
  }
  return count ? total / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

// Where the learned scale starts (ScorerOptions from comparison_scorer): g = sqrt(d_k) for
// qk_norm, tau = 1/sqrt(d_k) or 1 for the learned temperatures; NaN without one.
double summary_start_scale(const std::string& scorer, int64_t d_k) {
  if (scorer == "qk_norm") return std::sqrt(static_cast<double>(d_k));
  if (scorer == "learned_temperature") return 1 / std::sqrt(static_cast<double>(d_k));
  if (scorer == "learned_temperature_from_1") return 1;
  return std::numeric_limits<double>::quiet_NaN();
}

std::string curve_stem(const std::string& scorer, int64_t d_k) { return "curve_" + scorer + "_dk" + std::to_string(d_k); }

std::string describe(const std::string& scorer) {
  if (scorer == "dot") return "q.k, unscaled";
  if (scorer == "scaled_dot") return "q.k / sqrt(d_k) (Vaswani et al.)";
  if (scorer == "mup_dot") return "q.k / d_k (muP, Yang et al. 2022)";
  if (scorer == "qk_norm") return "g cos(q, k), g learned per head from sqrt(d_k) (Henry et al. 2020)";
  if (scorer == "learned_temperature") return "tau q.k, tau learned per head from 1/sqrt(d_k)";
  return "tau q.k, tau learned per head from 1 (starts unscaled)";
}

// Mean final accuracy, runs reaching 90%, mean final dead rows and mean learned scale of
// one (scorer, d_k) setting.
struct Setting {
  SeedTally seeds;
  double dead = 0, scale = 0, chance = 0;
};

Setting setting(const std::vector<ScaleAlternativesRun>& runs, const std::string& scorer, int64_t d_k) {
  Setting s;
  for (const auto& r : runs) {
    if (r.scorer != scorer || r.d_k != d_k) continue;
    s.seeds.add(r.result);
    s.dead += r.result.curve.back().dead_fraction;
    s.scale += r.final_scale;
    s.chance = r.result.chance_accuracy;
  }
  const double n = static_cast<double>(std::max<int64_t>(s.seeds.runs, 1));
  s.dead /= n;
  s.scale /= n;
  return s;
}

void plot_probe(const std::string& dir, const std::vector<std::string>& scorers, std::vector<std::string>& images) {
  auto series = [&](int column) {
    std::ostringstream os;
    os << "plot ";
    for (size_t i = 0; i < scorers.size(); ++i)
      os << (i ? ", " : "") << gnuplot_string("probe_" + scorers[i] + ".csv") << " every ::1 using 2:" << column
         << " with linespoints lw 2 lc rgb '" << line_color(i) << "' title " << gnuplot_string(scorers[i]);
    return os.str() + "\n";
  };
  const std::string logx = "set logscale x 2\nset xlabel 'd_k'\nset key outside right\n";
  if (render_plot(dir + "/jacobian_norm", logx + "set logscale y\nset ylabel 'mean ||diag(w) - w w^T||_F per row'\n"
                                                 "set title 'Gradient through the softmax at initialisation'\n" + series(9), 1000, 600))
    images.push_back("jacobian_norm.png");
  if (render_plot(dir + "/dead_rows", logx + "set yrange [-0.02:1.02]\nset ylabel 'rows with Jacobian norm < 1e-3'\n"
                                             "set title 'Dead softmax rows at initialisation'\n" + series(10), 1000, 600))
    images.push_back("dead_rows.png");
}

// From training_<scorer>.csv: d_k, mean final accuracy, mean final dead rows.
void plot_training(const std::string& dir, const std::vector<std::string>& scorers, std::vector<std::string>& images) {
  std::ostringstream os;
  os << "set logscale x 2\nset xlabel 'd_k'\nset key outside right\nset yrange [0:1.02]\nset ylabel 'final held-out accuracy'\n"
        "set title 'Training: final accuracy (mean over seeds) against d_k'\nplot ";
  for (size_t i = 0; i < scorers.size(); ++i)
    os << (i ? ", " : "") << gnuplot_string("training_" + scorers[i] + ".csv")
       << " every ::1 using 1:2 with linespoints lw 2 lc rgb '" << line_color(i) << "' title " << gnuplot_string(scorers[i]);
  if (render_plot(dir + "/training_accuracy", os.str() + "\n", 1000, 600)) images.push_back("training_accuracy.png");
}

std::string four_digits(double v) {
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

}  // namespace

bool keeps_softmax_gradient_alive(const ScaleAlternativeOutcome& outcome) {
  return outcome.jacobian_norm_largest >= 0.5 * outcome.jacobian_norm_smallest && outcome.dead_rows_largest <= 0.05;
}

std::string scale_alternatives_verdict(const std::vector<ScaleAlternativeOutcome>& outcomes) {
  const auto trains = [](const ScaleAlternativeOutcome& o) { return o.runs > 0 && o.reached_90 == o.runs; };
  const auto scaled = std::find_if(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.scorer == "scaled_dot"; });
  const bool budget_suffices = scaled != outcomes.end() && trains(*scaled);
  bool any_alive = false, any_dead = false, consistent = true, contradicted = false;
  for (const ScaleAlternativeOutcome& o : outcomes) {
    const bool alive = keeps_softmax_gradient_alive(o);
    (alive ? any_alive : any_dead) = true;
    consistent = consistent && alive == trains(o);
    contradicted = contradicted || (alive ? o.reached_90 == 0 : trains(o));
  }
  contradicted = contradicted && budget_suffices;
  std::ostringstream os;
  os << "**Claim** (the seed's, put to each alternative): a scale choice that keeps the gradient through the softmax "
        "alive at large d_k lets attention train there, and one that lets it die (the unscaled dot product) does "
        "not. **Verdict: this run "
     << (contradicted                 ? "contradicts it"
         : !budget_suffices           ? "cannot tell (scaled_dot did not train at the largest d_k, or was not "
                                        "trained: the budget is too small to judge the others)"
         : !any_alive || !any_dead    ? "cannot tell (no choice to contrast: all keep the gradient alive, or all lose it)"
         : consistent                 ? "supports it"
                                      : "cannot tell (a choice that keeps the gradient alive trained in some seeds only)")
     << ".**";
  if (outcomes.empty()) return os.str();
  const ScaleAlternativeOutcome& first = outcomes.front();
  os << " At initialisation, from d_k=" << first.probe_d_k_smallest << " to d_k=" << first.probe_d_k_largest
     << ", the softmax Jacobian norm, and the dead rows at d_k=" << first.probe_d_k_largest << ":";
  for (const ScaleAlternativeOutcome& o : outcomes)
    os << (&o == &first ? " " : "; ") << "`" << o.scorer << "` " << report_number(o.jacobian_norm_smallest) << " -> "
       << report_number(o.jacobian_norm_largest) << ", " << report_number(o.dead_rows_largest) << " ("
       << (keeps_softmax_gradient_alive(o) ? "alive" : "lost") << ")";
  os << ".";
  if (first.runs == 0) return os.str() + " Nothing was trained.";
  os << " Training at d_k=" << first.train_d_k << ", runs reaching 90% held-out accuracy (mean final accuracy):";
  for (const ScaleAlternativeOutcome& o : outcomes)
    os << (&o == &first ? " " : "; ") << "`" << o.scorer << "` " << o.reached_90 << " of " << o.runs << " ("
       << report_number(o.mean_accuracy) << ")";
  os << ".";
  return os.str();
}

ScaleAlternativesResult run_scale_alternatives(const ScaleAlternativesOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  ScaleAlternativesResult result;
  const std::vector<std::string>& scorers = options.probe.scorers;
  // Under mpirun the ranks share the training runs; rank 0 probes, gathers and writes.
  const std::vector<RunConfig> cells =
      options.run_training ? scale_alternatives_training_runs(options) : std::vector<RunConfig>{};
  const TrainingSweep sweep(cells);
  if (!dist::is_root()) return result;
  fs::create_directories(dir);
  std::vector<std::string> images, heatmaps;

  // ---- part 1: at initialisation ----
  result.probe = run_init_probe(options.probe);
  save_init_probe(result.probe, dir, log);
  plot_probe(dir, scorers, images);

  // ---- part 2: training ----
  Table runs({"scorer", "d_k", "seed", "final_accuracy", "step_reaching_90", "final_dead_fraction", "final_entropy",
              "learned_scale"});
  Table summary({"scorer", "d_k", "mean_final_accuracy", "seeds_reaching_90", "steps_reaching_90",
                 "mean_final_dead_fraction", "mean_learned_scale", "start_scale"});
  Table timing({"scorer", "d_k", "seed", "ms_per_step_median"});  // apart: timings vary run to run
  if (options.run_training) {
    size_t cell = 0;
    for (const std::string& scorer : scorers) {
      Table per_width({"d_k", "mean_final_accuracy", "mean_final_dead_fraction"});
      for (int64_t d_k : options.training_d_ks) {
        for (int64_t s = 0; s < options.seeds; ++s, ++cell) {
          ScaleAlternativesRun run{scorer, d_k, cells[cell].train.seed, sweep.take(cell), 0};
          run.final_scale = run.result.model ? learned_scale(*run.result.model) : std::numeric_limits<double>::quiet_NaN();
          const CurvePoint& last = run.result.curve.back();
          runs.add_row({scorer, d_k, static_cast<int64_t>(run.seed), last.eval_accuracy, step_text(run.result.step_reaching_90),
                        last.dead_fraction, last.mean_entropy, run.final_scale});
          timing.add_row({scorer, d_k, static_cast<int64_t>(run.seed), run.result.median_seconds_per_step * 1e3});
          log << "train " << scorer << " d_k=" << d_k << " seed " << run.seed << ": accuracy " << last.eval_accuracy
              << ", 90% at " << step_text(run.result.step_reaching_90) << ", dead rows " << last.dead_fraction << "\n";
          if (s == 0) curve_table(run.result.curve).save(dir + "/" + curve_stem(scorer, d_k));
          if (s == 0 && d_k == options.training_d_ks.back()) {
            const std::string stem = "attention_" + scorer + "_dk" + std::to_string(d_k);
            if (run.result.sample_weights.defined() && write_heatmap(dir + "/" + stem, run.result.sample_weights, scorer + ", d_k=" + std::to_string(d_k) + ", last layer"))
              heatmaps.push_back(stem + ".png");
          }
          run.result.sample_attention.clear();
          result.training.push_back(std::move(run));
        }
        const Setting st = setting(result.training, scorer, d_k);
        summary.add_row({scorer, d_k, st.seeds.mean_accuracy(),
                         std::to_string(st.seeds.reached_90) + "/" + std::to_string(st.seeds.runs),
                         st.seeds.steps_reaching_90, st.dead, st.scale, summary_start_scale(scorer, d_k)});
        per_width.add_row({d_k, st.seeds.mean_accuracy(), st.dead});
      }
      per_width.save(dir + "/training_" + scorer);
    }
    runs.save(dir + "/training");
    summary.save(dir + "/training_summary");
    timing.save(dir + "/timing");
    plot_training(dir, scorers, images);
  }

  const auto ends = probe_extremes(result.probe);
  for (const std::string& s : scorers) {
    const auto [lo, hi] = ends.at(s);
    ScaleAlternativeOutcome o{.scorer = s, .probe_d_k_smallest = lo->d_k, .probe_d_k_largest = hi->d_k,
                              .jacobian_norm_smallest = lo->mean_jacobian_norm,
                              .jacobian_norm_largest = hi->mean_jacobian_norm, .dead_rows_largest = hi->dead_fraction};
    if (options.run_training) {
      const Setting st = setting(result.training, s, options.training_d_ks.back());
      o.train_d_k = options.training_d_ks.back();
      o.runs = st.seeds.runs;
      o.reached_90 = st.seeds.reached_90;
      o.mean_accuracy = st.seeds.mean_accuracy();
    }
    result.outcomes.push_back(o);
  }
  result.verdict = scale_alternatives_verdict(result.outcomes);

  // ---- report ----
  const auto& probe = options.probe;
  std::ostringstream md;
  md << "# What else keeps the softmax alive\n\n" << result.verdict << "\n\n"
     << "Generated by `scale_alternatives` from `" << options.config_source
     << "`; every figure below was computed by this run.\n\nThe alternatives:\n\n";
  for (const auto& s : scorers) md << "- `" << s << "`: " << describe(s) << "\n";
  md << "\n## 1. At initialisation\n\n"
     << "Queries and keys with unit-variance components (X ~ N(0,1), W_Q, W_K ~ N(0, 1/d_model), d_model "
     << probe.d_model << "), N = " << probe.seq_len << " keys per row, " << probe.seeds << " seeds.\n\n"
     << init_probe_table(result.probe).markdown() << "\n"
     << "`jacobian_norm` is the Frobenius norm of the softmax Jacobian diag(w) - w w^T per row, the gradient "
     << "that gets through the softmax; `dead_rows` the fraction of rows where it is below 1e-3.\n\n"
     << "In words, from the table (smallest -> largest d_k):\n\n";
  for (const ScaleAlternativeOutcome& outcome : result.outcomes) {
    const std::string& s = outcome.scorer;
    const auto [lo, hi] = ends.at(s);
    const bool alive = keeps_softmax_gradient_alive(outcome);
    // Alive is not the same as selective: scores that shrink with d_k give near-uniform
    // weights, whose Jacobian is far from zero but which attend to nothing in particular.
    const bool uniform = hi->mean_entropy >= 0.95 * hi->max_entropy;
    md << "- `" << s << "` " << (alive ? "keeps the gradient alive" : "loses the gradient through the softmax")
       << (uniform ? ", with near-uniform weights at the largest d_k (entropy >= 95% of ln N)" : "") << ": score std " << lo->score_std << " -> " << hi->score_std << ", Jacobian norm " << lo->mean_jacobian_norm
       << " -> " << hi->mean_jacobian_norm << ", dead rows " << lo->dead_fraction << " -> " << hi->dead_fraction
       << ", entropy " << lo->mean_entropy << " -> " << hi->mean_entropy << " (max " << lo->max_entropy << ").\n";
  }
  md << "\n(\"Keeps the gradient alive\": at the largest d_k the Jacobian norm is at least half its value at the "
        "smallest and at most 5% of rows are dead.)\n\n";
  for (const auto& img : images)
    if (img != "training_accuracy.png") md << "![" << img << "](" << img << ")\n\n";
  if (options.run_training) {
    const RunConfig& b = cells.front();
    md << "## 2. Training\n\n"
       << "Task `" << b.task.name << "` (" << b.task.options.dump() << "), a " << b.model.layers
       << "-layer pre-LN transformer with d_model " << b.model.d_model << " and " << b.model.heads
       << " head(s) of width d_k, " << enum_name(b.model.positional) << " positions, " << enum_name(b.optimizer.name) << " lr "
       << b.optimizer.lr << ", batch " << b.train.batch_size << ", " << b.train.steps << " steps, " << options.seeds
       << " seed(s) per setting; held-out accuracy every " << b.train.eval_interval << " steps on "
       << b.task.eval_batches << " batches from another seed. Each run is an ordinary run folder under `runs/`. "
       << "`mean_learned_scale` is the learned g (qk_norm) or tau (learned_temperature) at the end, averaged "
       << "over heads, layers and seeds, next to where it started.\n\n"
       << summary.markdown() << "\nIn words, from the table:\n\n";
    for (const auto& s : scorers) {
      std::string learned, failures, scales;
      for (int64_t d_k : options.training_d_ks) {
        const Setting st = setting(result.training, s, d_k);
        if (!std::isnan(st.scale))
          scales += std::string(scales.empty() ? "" : ", ") + ("d_k=" + std::to_string(d_k) + " " +
                                                    four_digits(summary_start_scale(s, d_k)) + " -> " + four_digits(st.scale));
        if (st.seeds.reached_90 == st.seeds.runs) learned += std::string(learned.empty() ? "" : ", ") + std::to_string(d_k);
        else failures += std::string(failures.empty() ? "" : ", ") + ("d_k=" + std::to_string(d_k) + " (" +
                                                          std::to_string(st.seeds.reached_90) + "/" +
                                                          std::to_string(st.seeds.runs) + " runs, mean accuracy " +
                                                          four_digits(st.seeds.mean_accuracy()) + ")");
      }
      md << "- `" << s << "`: every run reached 90% at d_k = " << (learned.empty() ? "none of the widths" : learned)
         << (failures.empty() ? "" : "; not at " + failures) << "."
         << (scales.empty() ? "" : " Learned scale, start -> end: " + scales + ".") << "\n";
    }
    md << "\nEvery run is in `training.csv`; time per step (varies with the machine's load) in `timing.csv`.\n\n"
       << "![training_accuracy.png](training_accuracy.png)\n\n"
       << "### Attention of the trained models at d_k = " << options.training_d_ks.back()
       << " (last layer, one held-out input)\n\n";
    for (const auto& img : heatmaps) md << "![" << img << "](" << img << ")\n\n";
  }
  if (!gnuplot_available())
    md << "_gnuplot was not found: the data and the gnuplot scripts (`*.gp`) are written, the PNGs are not._\n";
  write_file_atomically(dir + "/report.md", md.str());
  return result;
}

}  // namespace qkv
