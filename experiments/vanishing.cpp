#include "experiments/vanishing.h"

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "dist/communicator.h"
#include "experiments/experiment_config.h"
#include "experiments/probe_config.h"
#include "experiments/statistics.h"
#include "experiments/table.h"
#include "experiments/training_sweep.h"
#include "train/trainer.h"
#include "io/safetensors.h"
#include "tasks/task.h"
#include "train/heatmap.h"
#include "train/plot.h"

namespace qkv {
namespace fs = std::filesystem;

VanishingOptions default_vanishing_options() {
  VanishingOptions o;
  o.training.run = {
      {"model", {{"d_model", 64}, {"heads", 1}, {"layers", 2}, {"d_ff", 128}, {"positional", "sinusoidal"}}},
      {"task", {{"name", "reverse"}, {"seq_len", 9}, {"vocab", 12}, {"eval_batches", 4}}},
      {"optimizer", {{"name", "adam"}, {"lr", 1e-3}}},
      {"train", {{"steps", 300}, {"batch_size", 32}, {"eval_interval", 25}, {"seed", 0}}}};
  return o;
}

VanishingOptions load_vanishing_options(const std::string& path, const std::vector<std::string>& overrides) {
  VanishingOptions o = default_vanishing_options();
  o.config_source = experiment_config_source(path, overrides);
  JsonReader root(read_experiment_config(path, overrides), o.config_source);
  root.string("out_dir", o.out_dir);

  JsonReader probe = root.child("probe");
  probe.string_list("scorers", o.probe.scorers, comparison_scorer_choices());
  read_init_probe_keys(probe, o.probe);
  probe.check_unknown_keys();

  JsonReader training = root.child("training");
  read_sweep_training_keys(training, o.run_training, o.training.d_ks, o.training.seeds, o.training.run);
  training.number_list("unscaled_lr", o.training.unscaled_lrs, 1e-12, 10);
  training.number_list("unscaled_lr_over_sqrt_dk", o.training.unscaled_lrs_over_sqrt_dk, 1e-12, 1000);
  training.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  if (o.run_training) vanishing_training_runs(o);  // every run config checked before anything runs
  return o;
}

namespace {
std::string scaling_name(bool scaled) { return scaled ? "scaled" : "unscaled"; }

std::string cell_name(int64_t d_k, bool scaled, uint64_t seed) {
  return "dk" + std::to_string(d_k) + "_" + scaling_name(scaled) + "_seed" + std::to_string(seed);
}

// The learning rates of the unscaled sweep at d_k, as the tables name them.
struct SweptLr {
  std::string label;
  double value = 0;
};
std::vector<SweptLr> swept_lrs(const VanishingTrainingOptions& training, int64_t d_k) {
  std::vector<SweptLr> lrs;
  for (double lr : training.unscaled_lrs) lrs.push_back({nlohmann::json(lr).dump(), lr});
  for (double c : training.unscaled_lrs_over_sqrt_dk)
    lrs.push_back({nlohmann::json(c).dump() + "/sqrt(d_k)", c / std::sqrt(static_cast<double>(d_k))});
  return lrs;
}

std::string lr_folder(const std::string& label) {
  const size_t slash = label.find('/');
  return slash == std::string::npos ? label : label.substr(0, slash) + "_over_sqrt_dk";
}

// A cell's runs over its seeds: how many reached 90% (with a 95% Wilson interval), when,
// and where they ended. A diverged run counts as not reaching 90% and has no final accuracy.
struct CellStats {
  int64_t runs = 0, reached = 0, diverged = 0;
  Interval wilson;
  double step_q1 = 0, step_median = 0, step_q3 = 0;
  double accuracy_median = 0, accuracy_min = 0, accuracy_max = 0;
};
CellStats cell_stats(const std::vector<const TrainedRun*>& runs) {
  CellStats c;
  std::vector<double> steps, accuracies;
  for (const TrainedRun* r : runs) {
    ++c.runs;
    if (r->step_reaching_90 >= 0) {
      ++c.reached;
      steps.push_back(static_cast<double>(r->step_reaching_90));
    }
    if (r->diverged_step >= 0) ++c.diverged;
    else accuracies.push_back(r->curve.back().eval_accuracy);
  }
  c.wilson = wilson_interval(c.reached, c.runs);
  c.step_q1 = quantile(steps, 0.25);
  c.step_median = quantile(steps, 0.5);
  c.step_q3 = quantile(steps, 0.75);
  c.accuracy_median = quantile(accuracies, 0.5);
  c.accuracy_min = quantile(accuracies, 0);
  c.accuracy_max = quantile(accuracies, 1);
  return c;
}

Table cell_table() {
  return Table({"d_k", "variant", "runs", "runs_reaching_90", "fraction_reaching_90", "wilson95_low", "wilson95_high",
                "step_90_q1", "step_90_median", "step_90_q3", "final_accuracy_median", "final_accuracy_min",
                "final_accuracy_max", "diverged"});
}
void add_cell_row(Table& t, int64_t d_k, const std::string& variant, const CellStats& c) {
  t.add_row({d_k, variant, c.runs, c.reached, static_cast<double>(c.reached) / static_cast<double>(c.runs), c.wilson.low,
             c.wilson.high, c.step_q1, c.step_median, c.step_q3, c.accuracy_median, c.accuracy_min, c.accuracy_max,
             c.diverged});
}

std::string fraction_text(const CellStats& c) {
  return std::to_string(c.reached) + "/" + std::to_string(c.runs) + " [" + report_number(c.wilson.low) + ", " +
         report_number(c.wilson.high) + "]";
}

std::string curve_stem(int64_t d_k, bool scaled, uint64_t seed) {
  return "curve_" + cell_name(d_k, scaled, seed);
}

void plot_probe(const std::string& dir, const InitProbeOptions& probe, std::vector<std::string>& images) {
  auto series = [&](int column, const std::string& extra) {
    std::ostringstream os;
    os << "plot ";
    for (size_t i = 0; i < probe.scorers.size(); ++i)
      // Series that coincide (several scorers at 0 dead rows) stay visible: the first drawn
      // is the widest, and each has its own dash and point type.
      os << (i ? ", " : "") << gnuplot_string("probe_" + probe.scorers[i] + ".csv") << " every ::1 using 2:" << column
         << " with linespoints lw " << 1.5 + 2.0 * static_cast<double>(probe.scorers.size() - 1 - i) << " dt "
         << 1 + i % 5 << " pt " << 4 + 2 * i << " ps 1.5 lc rgb '" << line_color(i) << "' title "
         << gnuplot_string(probe.scorers[i]);
    os << extra << "\n";
    return os.str();
  };
  const std::string logx = "set logscale x 2\nset xlabel 'd_k'\n";
  auto render = [&](const std::string& name, const std::string& body) {
    if (render_plot(dir + "/" + name, body)) images.push_back(name + ".png");
  };
  render("jacobian_norm", logx + "set logscale y\nset ylabel 'mean ||diag(w) - w w^T||_F per row'\n"
                                 "set title 'Gradient through the softmax at initialisation'\n" + series(9, ""));
  render("dead_rows", logx + "set ylabel 'fraction of rows with Jacobian norm < 1e-3'\nset yrange [-0.02:1.02]\n"
                             "set title 'Dead softmax rows at initialisation'\n" + series(10, ""));
  render("score_std", logx + "set logscale y\nset ylabel 'std of scores'\n"
                             "set title 'Score spread against theory'\n" +
                             series(3, ", sqrt(x) with lines dt 2 lc rgb 'black' title 'sqrt(d_k)', 1 with lines dt 3 lc rgb 'gray' title '1'"));
  render("entropy", logx + "set ylabel 'mean attention entropy (nats)'\nset yrange [0:*]\n"
                           "set title 'Attention entropy at initialisation (max ln N)'\n" +
                           series(5, ", " + std::to_string(std::log(static_cast<double>(probe.seq_len))) +
                                         " with lines dt 2 lc rgb 'black' title 'ln N'"));
}

// Small multiples, one panel per d_k, with every seed's run drawn: scaled blue, unscaled
// red (readable on white), each seed its own dash and point type, so runs that coincide
// or split both show.
void plot_training(const std::string& dir, const std::vector<int64_t>& d_ks, const std::vector<uint64_t>& seeds,
                   std::vector<std::string>& images) {
  const char* colour[] = {"#d62728", "#1f77b4"};  // [scaled]: unscaled red, scaled blue
  const std::string seed_style = seeds.size() > 1 ? "; seed " + std::to_string(seeds[0]) + " solid, seed " +
                                                        std::to_string(seeds[1]) + " dashed"
                                                  : "";
  auto body = [&](int column, const std::string& what, const std::string& range) {
    std::ostringstream os;
    const size_t columns = std::min<size_t>(d_ks.size(), 3), rows = (d_ks.size() + columns - 1) / columns;
    os << "set multiplot layout " << rows << "," << columns << " title '" << what
       << " per run (no means): one panel per d_k; blue scaled by 1/sqrt(d_k), red unscaled" << seed_style
       << "'\nset xlabel 'step'\nset key inside bottom right font ',9'\n" << range;
    for (int64_t d_k : d_ks) {
      if (d_k != d_ks.front()) os << "unset key\n";  // the first panel's key holds for all
      os << "set title 'd_k = " << d_k << "'\nplot ";
      bool first = true;
      for (bool scaled : {true, false})
        for (size_t s = 0; s < seeds.size(); ++s) {
          os << (first ? "" : ", ") << "'" << curve_stem(d_k, scaled, seeds[s]) << ".csv' every ::1 using 1:" << column
             << " with linespoints lw 2 dt " << 1 + s % 5 << " pt " << (scaled ? 7 : 5) + 2 * (s % 3) << " ps 0.7 lc rgb '"
             << colour[scaled] << "' title '" << scaling_name(scaled) << " seed " << seeds[s] << "'";
          first = false;
        }
      os << "\n";
    }
    os << "unset multiplot\n";
    return os.str();
  };
  const auto render = [&](const std::string& name, const std::string& plot) {
    if (render_plot(dir + "/" + name, plot, 1200, 750)) images.push_back(name + ".png");
  };
  // Columns of curve_table: step, train_loss, eval_loss, eval_accuracy, dead_fraction, entropy.
  render("training_accuracy", body(4, "Held-out accuracy", "set yrange [0:1.05]\n"));
  render("training_loss", body(3, "Held-out loss", "set yrange [0:*]\n"));
  render("training_dead_rows", body(5, "Dead softmax rows (Jacobian norm < 1e-3)", "set yrange [-0.02:1.02]\n"));
}

std::string verdict(const std::vector<InitProbeRow>& rows) {
  // Reads the table back and states the comparison in words, from the numbers.
  const auto ends = probe_extremes(rows);
  std::ostringstream os;
  const auto change = [](double from, double to) { return report_number(from) + " -> " + report_number(to); };
  for (const auto& [name, e] : ends) {
    const auto* lo = e.first;
    const auto* hi = e.second;
    os << "- **" << name << "**: from d_k=" << lo->d_k << " to d_k=" << hi->d_k << " the score std goes "
       << change(lo->score_std, hi->score_std) << ", the softmax Jacobian norm "
       << change(lo->mean_jacobian_norm, hi->mean_jacobian_norm) << ", dead rows "
       << change(lo->dead_fraction, hi->dead_fraction) << ", the gradient reaching W_Q "
       << change(lo->grad_wq_norm, hi->grad_wq_norm) << ".\n";
  }
  return os.str();
}
// The training outcome in words, per seed, and what the numbers say about the seed's claim.
std::string training_verdict(const std::vector<VanishingTrainingRow>& rows, const std::vector<int64_t>& d_ks) {
  std::ostringstream os;
  os << "The claim to test (from the seed, not a result): scaled models learn at every d_k; unscaled ones learn "
        "more slowly as d_k grows. Measured, per run: final held-out accuracy (first evaluated step at or above "
        "90%), final fraction of dead rows.\n\n";
  std::vector<int64_t> missed[2];  // [scaled]: the d_k of runs that never reached 90%
  int64_t runs_of[2] = {0, 0};
  for (int64_t d_k : d_ks) {
    os << "- d_k=" << d_k << ":";
    for (bool scaled : {true, false}) {
      os << (scaled ? " " : "; ") << scaling_name(scaled);
      bool first = true;
      for (const auto& r : rows) {
        if (r.d_k != d_k || r.scaled != scaled) continue;
        const bool reached = r.result.step_reaching_90 >= 0;
        ++runs_of[scaled];
        if (!reached) missed[scaled].push_back(d_k);
        os << (first ? " " : ", ") << "seed " << r.seed << " " << report_number(r.result.curve.back().eval_accuracy) << " ("
           << (reached ? "90% at step " + step_text(r.result.step_reaching_90) : std::string("never 90%"))
           << ", dead rows " << report_number(r.result.curve.back().dead_fraction) << ")";
        first = false;
      }
    }
    os << "\n";
  }
  os << "\nIn these runs: ";
  for (bool scaled : {true, false}) {
    os << scaling_name(scaled) << " missed 90% in " << missed[scaled].size() << " of " << runs_of[scaled] << " runs";
    if (!missed[scaled].empty()) {
      os << " (d_k";
      for (size_t i = 0; i < missed[scaled].size(); ++i) os << (i ? ", " : " ") << missed[scaled][i];
      os << ")";
    }
    os << (scaled ? "; " : ".");
  }
  os << " Chance accuracy is " << report_number(rows.empty() ? 0.0 : rows.front().result.chance_accuracy) << ".\n";
  return os.str();
}
}  // namespace

std::string vanishing_verdict(const std::vector<VanishingDkOutcome>& outcomes) {
  std::ostringstream os;
  os << "**Claim** (the seed's): without the 1/sqrt(d_k) scale, attention learns less and less often as d_k "
        "grows, while the scaled model learns at every d_k, and no learning rate rescues the unscaled one. ";
  if (outcomes.empty()) return os.str() + "**Verdict:** this run trained nothing, so it cannot tell.\n";
  const VanishingDkOutcome& lo = outcomes.front();
  const VanishingDkOutcome& hi = outcomes.back();
  const Interval scaled_hi = wilson_interval(hi.scaled_reached, hi.runs);
  const Interval unscaled_hi = wilson_interval(hi.unscaled_reached, hi.runs);
  const Interval unscaled_lo = wilson_interval(lo.unscaled_reached, lo.runs);
  const bool supported = unscaled_hi.high < scaled_hi.low && unscaled_hi.high < unscaled_lo.low;
  const bool contradicted = hi.unscaled_reached >= hi.scaled_reached;
  os << "**Verdict: this run "
     << (supported ? "supports it" : contradicted ? "contradicts it" : "cannot tell (the intervals overlap)") << ".** ";
  const auto count = [](int64_t reached, int64_t runs) {
    const Interval w = wilson_interval(reached, runs);
    return std::to_string(reached) + " of " + std::to_string(runs) + " [95% " + report_number(w.low) + ", " +
           report_number(w.high) + "]";
  };
  os << "Runs reaching 90% held-out accuracy, scaled / unscaled:";
  for (const VanishingDkOutcome& o : outcomes)
    os << (&o == &outcomes.front() ? " " : "; ") << "d_k=" << o.d_k << " " << count(o.scaled_reached, o.runs) << " / "
       << count(o.unscaled_reached, o.runs);
  os << ".";
  if (!hi.best_lr.empty()) {
    // Only a d_k where the unscaled runs fail at the runs' own rate needs rescuing.
    int64_t failing = 0, rescued = 0;
    for (const VanishingDkOutcome& o : outcomes) {
      const double scaled_low = wilson_interval(o.scaled_reached, o.runs).low;
      if (wilson_interval(o.unscaled_reached, o.runs).high >= scaled_low) continue;
      ++failing;
      rescued += wilson_interval(o.best_lr_reached, o.best_lr_runs).high >= scaled_low &&
                 2 * o.best_lr_reached >= o.best_lr_runs;
    }
    os << " At d_k=" << hi.d_k << " the best unscaled learning rate tried (" << hi.best_lr << ") reached 90% in "
       << count(hi.best_lr_reached, hi.best_lr_runs) << ". Of the " << failing << " d_k where unscaled attention "
       << "fails at the scaled runs' learning rate, another rate rescues it (the rule of section 2) at " << rescued
       << ".";
  }
  return os.str() + "\n";
}

std::vector<RunConfig> vanishing_training_runs(const VanishingOptions& options) {
  const std::string source = options.config_source + " training.run";
  const uint64_t first_seed = experiment_run_config(options.training.run, {}, source, options.out_dir).train.seed;
  std::vector<RunConfig> runs;
  for (int64_t d_k : options.training.d_ks)
    for (bool scaled : {true, false})
      for (int64_t s = 0; s < options.training.seeds; ++s) {
        const uint64_t seed = first_seed + static_cast<uint64_t>(s);
        const nlohmann::json changes = {
            {"model", {{"d_head", d_k}, {"scorer", "scaled_dot"}, {"scale", scaled ? "sqrt_dk" : "none"}}},
            {"train", {{"seed", seed}}}};
        runs.push_back(experiment_run_config(options.training.run, changes, source,
                                             options.out_dir + "/runs/" + cell_name(d_k, scaled, seed)));
      }
  for (int64_t d_k : options.training.d_ks)
    for (const SweptLr& lr : swept_lrs(options.training, d_k))
      for (int64_t s = 0; s < options.training.seeds; ++s) {
        const uint64_t seed = first_seed + static_cast<uint64_t>(s);
        const nlohmann::json changes = {
            {"model", {{"d_head", d_k}, {"scorer", "scaled_dot"}, {"scale", "none"}}},
            {"optimizer", {{"lr", lr.value}}},
            {"train", {{"seed", seed}}}};
        runs.push_back(experiment_run_config(options.training.run, changes, source,
                                             options.out_dir + "/runs/dk" + std::to_string(d_k) + "_unscaled_lr" +
                                                 lr_folder(lr.label) + "_seed" + std::to_string(seed)));
      }
  return runs;
}

VanishingResult run_vanishing_experiment(const VanishingOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  VanishingResult result;
  // Under mpirun the ranks share the training runs; rank 0 probes, gathers and writes.
  const std::vector<RunConfig> cells = options.run_training ? vanishing_training_runs(options) : std::vector<RunConfig>{};
  const TrainingSweep sweep(cells);
  if (!dist::is_root()) return result;
  fs::create_directories(dir);
  std::vector<std::string> probe_images, training_images, heatmaps;

  // ---- part 1: at initialisation ----
  result.probe = run_init_probe(options.probe);
  save_init_probe(result.probe, dir, log);
  plot_probe(dir, options.probe, probe_images);

  // ---- part 2: training ----
  Table summary({"d_k", "scaling", "seed", "final_accuracy", "step_reaching_90", "final_entropy",
                 "final_dead_fraction", "chance_accuracy"});
  // Timings vary run to run, so they live apart from the results, which must not.
  Table timing({"d_k", "scaling", "seed", "ms_per_step"});
  Table per_cell = cell_table();
  Table lr_runs({"d_k", "lr", "seed", "final_accuracy", "step_reaching_90", "final_dead_fraction"});
  std::ostringstream rescue;  // the learning-rate sweep's verdict, per d_k
  std::vector<VanishingDkOutcome> outcomes;
  if (options.run_training) {
    size_t cell = 0;
    for (int64_t d_k : options.training.d_ks) {
      for (bool scaled : {true, false}) {
        std::vector<const VanishingTrainingRow*> runs;
        for (int64_t s = 0; s < options.training.seeds; ++s, ++cell)
          result.training.push_back({d_k, scaled, cells[cell].train.seed, sweep.take(cell)});
        for (size_t i = result.training.size() - options.training.seeds; i < result.training.size(); ++i) {
          const auto& row = result.training[i];
          runs.push_back(&row);
          const CurvePoint& last = row.result.curve.back();
          summary.add_row({d_k, scaling_name(scaled), static_cast<int64_t>(row.seed), last.eval_accuracy,
                           row.result.step_reaching_90 < 0 ? std::string("never") : std::to_string(row.result.step_reaching_90),
                           last.mean_entropy, last.dead_fraction, row.result.chance_accuracy});
          timing.add_row({d_k, scaling_name(scaled), static_cast<int64_t>(row.seed), row.result.seconds_per_step * 1e3});
          log << "train d_k=" << d_k << " " << scaling_name(scaled) << " seed " << row.seed << ": accuracy "
              << last.eval_accuracy << ", 90% at "
              << (row.result.step_reaching_90 < 0 ? std::string("never") : std::to_string(row.result.step_reaching_90))
              << ", dead rows " << last.dead_fraction << "\n";
        }
        std::vector<const TrainedRun*> trained;
        for (const VanishingTrainingRow* run : runs) trained.push_back(&run->result);
        const CellStats stats = cell_stats(trained);
        add_cell_row(per_cell, d_k, scaling_name(scaled), stats);
        if (scaled) outcomes.push_back({.d_k = d_k, .runs = stats.runs, .scaled_reached = stats.reached});
        else outcomes.back().unscaled_reached = stats.reached;
        // Seeds stay apart: a mean would hide runs that split (one learns, one stays near chance).
        for (const VanishingTrainingRow* run : runs)
          curve_table(run->result.curve).save(dir + "/" + curve_stem(d_k, scaled, run->seed));
        const std::string stem = "attention_dk" + std::to_string(d_k) + "_" + scaling_name(scaled);
        if (runs.front()->result.sample_weights.defined() &&
            write_heatmap(dir + "/" + stem, runs.front()->result.sample_weights,
                          "last layer, d_k=" + std::to_string(d_k) + ", " + scaling_name(scaled)))
          heatmaps.push_back(stem + ".png");
      }
    }
    // The learning-rate sweep of the unscaled model: does any rate rescue it?
    for (int64_t d_k : options.training.d_ks) {
      const std::vector<SweptLr> lrs = swept_lrs(options.training, d_k);
      if (lrs.empty()) break;
      std::vector<const TrainedRun*> scaled_runs, unscaled_runs;
      for (const auto& r : result.training)
        if (r.d_k == d_k) (r.scaled ? scaled_runs : unscaled_runs).push_back(&r.result);
      const CellStats scaled = cell_stats(scaled_runs), unscaled = cell_stats(unscaled_runs);
      CellStats best = unscaled;
      std::string best_lr = "the runs' " + nlohmann::json(cells.front().optimizer.lr).dump();
      for (const SweptLr& lr : lrs) {
        for (int64_t s = 0; s < options.training.seeds; ++s, ++cell) {
          result.lr_sweep.push_back({d_k, lr.label, cells[cell].train.seed, sweep.take(cell)});
          const VanishingLrRow& row = result.lr_sweep.back();
          const CurvePoint& last = row.result.curve.back();
          lr_runs.add_row({d_k, lr.label, static_cast<int64_t>(row.seed), last.eval_accuracy,
                           step_text(row.result.step_reaching_90), last.dead_fraction});
          log << "train d_k=" << d_k << " unscaled lr " << lr.label << " seed " << row.seed << ": accuracy "
              << last.eval_accuracy << ", 90% at " << step_text(row.result.step_reaching_90) << "\n";
          result.lr_sweep.back().result.model.reset();  // only the tables need them
        }
        std::vector<const TrainedRun*> runs;  // taken once the rows no longer move
        for (size_t i = result.lr_sweep.size() - static_cast<size_t>(options.training.seeds); i < result.lr_sweep.size(); ++i)
          runs.push_back(&result.lr_sweep[i].result);
        const CellStats c = cell_stats(runs);
        add_cell_row(per_cell, d_k, "unscaled lr=" + lr.label, c);
        if (c.reached > best.reached) {
          best = c;
          best_lr = lr.label;
        }
      }
      // Rescue is asked only where the unscaled runs' interval lies wholly below the scaled
      // one's. Rescued: the best rate's interval overlaps the scaled model's and at least half
      // its runs reach 90%; not rescued: its interval lies wholly below the scaled one's.
      for (VanishingDkOutcome& o : outcomes)
        if (o.d_k == d_k) {
          o.best_lr = best_lr;
          o.best_lr_runs = best.runs;
          o.best_lr_reached = best.reached;
        }
      const bool needs_rescue = unscaled.wilson.high < scaled.wilson.low;
      const bool rescued = best.wilson.high >= scaled.wilson.low && 2 * best.reached >= best.runs;
      const bool not_rescued = best.wilson.high < scaled.wilson.low;
      rescue << "- d_k=" << d_k << ": scaled reached 90% in " << fraction_text(scaled) << ", unscaled at the runs' lr in "
             << fraction_text(unscaled) << "; the best unscaled rate (" << best_lr << ") in " << fraction_text(best)
             << ": " << (!needs_rescue ? "unscaled attention does not fail here at the runs' rate, so there is nothing to rescue"
                         : rescued       ? "**a learning rate rescues unscaled attention here**"
                         : not_rescued   ? "**no learning rate tried rescues it**"
                                         : "these seeds cannot tell")
             << ".\n";
    }
    summary.save(dir + "/training");
    per_cell.save(dir + "/training_cells");
    if (!lr_runs.rows().empty()) lr_runs.save(dir + "/lr_sweep");
    timing.save(dir + "/timing");
    std::vector<uint64_t> seeds;
    for (int64_t s = 0; s < options.training.seeds; ++s) seeds.push_back(cells.front().train.seed + static_cast<uint64_t>(s));
    plot_training(dir, options.training.d_ks, seeds, training_images);
  }

  // ---- report ----
  std::ostringstream md;
  md << "# Attention without the 1/sqrt(d_k) scale\n\n"
     << "Generated by `vanishing` from `" << options.config_source << "`; every figure below was computed by this run.\n\n";
  if (options.run_training) md << vanishing_verdict(outcomes) << "\n";
  md     << "## 1. At initialisation\n\n"
     << "Queries and keys have unit-variance components (X ~ N(0,1), W_Q, W_K ~ N(0, 1/d_model)), N = "
     << options.probe.seq_len << " keys per row, averaged over " << options.probe.seeds << " seeds. "
     << "`scaled_dot` is q.k/sqrt(d_k); `dot` is the unscaled q.k; `general` is q^T W k with Xavier W; "
     << "`additive` is v^T tanh(W_q q + W_k k).\n\n"
     << init_probe_table(result.probe).markdown() << "\n"
     << "Columns: `score_std` measured against `theory_std`; `entropy` of the attention weights against its "
     << "maximum ln N; `max_weight` the mean largest weight; `saturated_rows` the fraction of rows whose largest "
     << "weight exceeds 0.99; `jacobian_norm` the Frobenius norm of the softmax Jacobian diag(w) - w w^T per "
     << "row; `dead_rows` the fraction of rows where that norm is below 1e-3; `softmax_gain` = "
     << "|dL/dscores| / |dL/dweights| for a random linear loss on the attention output; `grad_W_Q`, `grad_W_K` the "
     << "norms of the gradients that reach the projections.\n\n"
     << "In words, from the table:\n\n" << verdict(result.probe) << "\n"
     << "**What vanishes and what does not.** The quantity that vanishes without scaling is the gradient *through "
     << "the softmax*: its Jacobian norm and the gain |dL/dscores| / |dL/dweights|. The gradients reaching W_Q "
     << "and W_K are reported as measured: they need not fall, because the unscaled chain also multiplies by "
     << "the larger scores (dscores/dW_Q grows with the keys it multiplies), so a mostly saturated softmax can "
     << "still pass large gradients through its few live rows.\n\n";
  for (const auto& img : probe_images) md << "![" << img << "](" << img << ")\n\n";
  if (options.run_training) {
    const RunConfig& b = cells.front();
    md << "## 2. Training\n\n"
       << "Task `" << b.task.name << "` (" << b.task.options.dump() << "), a " << b.model.layers
       << "-layer pre-LN transformer with d_model " << b.model.d_model << " and " << b.model.heads
       << " head(s) of width d_k, " << enum_name(b.model.positional) << " positions, " << enum_name(b.optimizer.name) << " lr "
       << b.optimizer.lr << " (" << enum_name(b.schedule.name) << " schedule), batch " << b.train.batch_size << ", "
       << b.train.steps << " steps, " << options.training.seeds << " seeds per setting; held-out accuracy every "
       << b.train.eval_interval << " steps on " << b.task.eval_batches << " batches from another seed. "
       << "Each run is an ordinary run folder under `runs/` (`train --eval`, `train --resume` and `plot_runs` "
       << "work on it); entropy and dead rows are those of the training batch at the evaluation step "
       << "(probes.jsonl).\n\n"
       << "Per cell over its seeds: the fraction of runs reaching 90% held-out accuracy with its 95% Wilson "
       << "interval, the quartiles of the step reaching it (runs that did), and the final accuracy's median and "
       << "range (`training_cells.csv`):\n\n"
       << per_cell.markdown() << "\n";
    if (!rescue.str().empty())
      md << "**Does another learning rate rescue unscaled attention?** The unscaled model was also trained at "
         << "each learning rate of `lr_sweep.csv`, with the same seeds. A d_k needs rescuing where the unscaled "
         << "runs' interval lies wholly below the scaled runs'. \"Rescues\": the best rate's interval "
         << "overlaps the scaled model's and at least half its runs reach 90%; \"no rate tried rescues it\": its "
         << "interval lies wholly below the scaled one's.\n\n"
         << rescue.str() << "\n";
    md << "Every run:\n\n"
       << summary.markdown() << "\n"
       << training_verdict(result.training, options.training.d_ks) << "\n"
       << "Time per training step (ms; varies with the machine and its load, unlike everything above):\n\n"
       << timing.markdown() << "\n";
    for (const auto& img : training_images) md << "![" << img << "](" << img << ")\n\n";
    md << "### Attention of the trained models (last layer, one held-out input)\n\n";
    for (const auto& img : heatmaps) md << "![" << img << "](" << img << ")\n\n";
  }
  if (!gnuplot_available()) {
    log << "gnuplot not found: wrote the data and the gnuplot scripts, but no PNGs\n";
    md << "_gnuplot was not found: the data and the gnuplot scripts (`*.gp`) are written, the PNGs are not. "
          "Install gnuplot-nox and run `gnuplot NAME.gp` in this folder._\n";
  }
  write_file_atomically(dir + "/report.md", md.str());
  return result;
}

}  // namespace qkv
