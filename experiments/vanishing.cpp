#include "experiments/vanishing.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <ostream>
#include <sstream>

#include "experiments/experiment_config.h"
#include "experiments/heatmap.h"
#include "experiments/probe_config.h"
#include "experiments/plot.h"
#include "experiments/table.h"
#include "tasks/task.h"
#include "io/safetensors.h"

namespace qkv {
namespace fs = std::filesystem;

VanishingOptions default_vanishing_options() {
  VanishingOptions o;
  TrainingProbeOptions& t = o.training.base;
  t.task = "reverse";
  t.task_options = {{"seq_len", 9}, {"vocab", 12}};
  t.model.d_model = 64;
  t.model.heads = 1;
  t.model.layers = 2;
  t.model.d_ff = 128;
  t.model.positional = "sinusoidal";
  t.steps = 400;
  t.batch_size = 32;
  t.lr = 1e-3;
  t.eval_interval = 25;
  return o;
}

VanishingOptions load_vanishing_options(const std::string& path, const std::vector<std::string>& overrides) {
  VanishingOptions o = default_vanishing_options();
  o.config_source = path;
  JsonReader root(read_experiment_config(path, overrides), experiment_config_source(path, overrides));
  root.string("out_dir", o.out_dir);

  JsonReader probe = root.child("probe");
  probe.string_list("scorers", o.probe.scorers, {"scaled_dot", "dot", "general", "additive"});
  read_init_probe_keys(probe, o.probe);
  probe.check_unknown_keys();

  JsonReader training = root.child("training");
  read_sweep_training_keys(training, o.run_training, o.training.d_ks, o.training.seeds, o.training.base);
  training.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  check_task_options(root, "training.task_options", o.training.base.task, o.training.base.task_options);
  root.throw_if_problems();
  return o;
}

namespace {
std::string scaling_name(bool scaled) { return scaled ? "scaled" : "unscaled"; }

std::string curve_stem(int64_t d_k, bool scaled) {
  return "curve_dk" + std::to_string(d_k) + "_" + scaling_name(scaled);
}

// Mean curve over seeds of one (d_k, scaling) setting; seeds share evaluation steps.
Table mean_curve(const std::vector<const VanishingTrainingRow*>& runs) {
  Table t({"step", "eval_loss", "eval_accuracy", "dead_fraction", "entropy"});
  const auto& first = runs.front()->result.curve;
  for (size_t i = 0; i < first.size(); ++i) {
    double loss = 0, acc = 0, dead = 0, ent = 0;
    for (const auto* r : runs) {
      const CurvePoint& p = r->result.curve[i];
      loss += p.eval_loss;
      acc += p.eval_accuracy;
      dead += p.dead_fraction;
      ent += p.mean_entropy;
    }
    const double n = static_cast<double>(runs.size());
    t.add_row({first[i].step, loss / n, acc / n, dead / n, ent / n});
  }
  return t;
}

void plot_probe(const std::string& dir, const InitProbeOptions& probe, std::vector<std::string>& images) {
  auto series = [&](int column, const std::string& extra) {
    std::ostringstream os;
    os << "plot ";
    for (size_t i = 0; i < probe.scorers.size(); ++i)
      os << (i ? ", " : "") << "'probe_" << probe.scorers[i] << ".csv' every ::1 using 2:" << column
         << " with linespoints lw 2 title '" << probe.scorers[i] << "'";
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

void plot_training(const std::string& dir, const std::vector<int64_t>& d_ks, std::vector<std::string>& images) {
  auto body = [&](int column, const std::string& ylabel, const std::string& title) {
    std::ostringstream os;
    os << "set xlabel 'step'\nset ylabel '" << ylabel << "'\nset title '" << title << "'\nplot ";
    int color = 1;
    bool first = true;
    for (int64_t d_k : d_ks) {
      for (bool scaled : {true, false}) {
        os << (first ? "" : ", ") << "'" << curve_stem(d_k, scaled) << ".csv' every ::1 using 1:" << column
           << " with lines lw 2 lc " << color << " dt " << (scaled ? 1 : 2) << " title 'd_k=" << d_k << " "
           << scaling_name(scaled) << "'";
        first = false;
      }
      ++color;
    }
    return os.str();
  };
  if (render_plot(dir + "/training_accuracy", "set yrange [0:1]\n" + body(3, "held-out accuracy", "Reverse task: scaled (solid) vs unscaled (dashed)"), 1000, 600))
    images.push_back("training_accuracy.png");
  if (render_plot(dir + "/training_loss", body(2, "held-out loss", "Reverse task: loss"), 1000, 600))
    images.push_back("training_loss.png");
  if (render_plot(dir + "/training_dead_rows", "set yrange [-0.02:1.02]\n" + body(4, "dead softmax rows", "Dead rows during training"), 1000, 600))
    images.push_back("training_dead_rows.png");
}

std::string verdict(const std::vector<InitProbeRow>& rows) {
  // Reads the table back and states the comparison in words, from the numbers.
  const auto ends = probe_extremes(rows);
  std::ostringstream os;
  for (const auto& [name, e] : ends) {
    const auto* lo = e.first;
    const auto* hi = e.second;
    os << "- **" << name << "**: from d_k=" << lo->d_k << " to d_k=" << hi->d_k << " the score std goes "
       << lo->score_std << " -> " << hi->score_std << ", the softmax Jacobian norm " << lo->mean_jacobian_norm
       << " -> " << hi->mean_jacobian_norm << ", dead rows " << lo->dead_fraction << " -> " << hi->dead_fraction
       << ", the gradient reaching W_Q " << lo->grad_wq_norm << " -> " << hi->grad_wq_norm << ".\n";
  }
  return os.str();
}
// The training outcome per setting in words, next to what the seed leads one to expect.
std::string training_verdict(const std::vector<VanishingTrainingRow>& rows, const std::vector<int64_t>& d_ks) {
  std::ostringstream os;
  os << "Expected: the scaled model learns at every d_k; without scaling it learns more slowly as d_k grows "
        "and, at the largest, stays near chance within the budget. Measured:\n\n";
  for (int64_t d_k : d_ks) {
    os << "- d_k=" << d_k << ":";
    for (bool scaled : {true, false}) {
      int64_t runs = 0, reached = 0;
      double accuracy = 0, chance = 0, dead = 0;
      for (const auto& r : rows) {
        if (r.d_k != d_k || r.scaled != scaled) continue;
        ++runs;
        reached += r.result.step_reaching_90 >= 0;
        accuracy += r.result.curve.back().eval_accuracy;
        dead += r.result.curve.back().dead_fraction;
        chance = r.result.chance_accuracy;
      }
      if (!runs) continue;
      os << " " << scaling_name(scaled) << " reached 90% in " << reached << " of " << runs
         << " runs, final accuracy " << accuracy / static_cast<double>(runs) << " (chance " << chance
         << "), dead rows " << dead / static_cast<double>(runs) << (scaled ? ";" : ".");
    }
    os << "\n";
  }
  return os.str();
}
}  // namespace

VanishingResult run_vanishing_experiment(const VanishingOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  fs::create_directories(dir);
  VanishingResult result;
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
  if (options.run_training) {
    for (int64_t d_k : options.training.d_ks) {
      for (bool scaled : {true, false}) {
        std::vector<const VanishingTrainingRow*> runs;
        for (int64_t s = 0; s < options.training.seeds; ++s) {
          TrainingProbeOptions t = options.training.base;
          t.model.d_head = d_k;
          t.model.scorer.kind = "scaled_dot";
          t.model.scorer.scale = scaled ? ScoreScale::inverse_sqrt_dk() : ScoreScale::none();
          t.seed = options.training.base.seed + static_cast<uint64_t>(s);
          result.training.push_back({d_k, scaled, t.seed, run_training_probe(t)});
        }
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
        mean_curve(runs).save(dir + "/" + curve_stem(d_k, scaled));
        const std::string stem = "attention_dk" + std::to_string(d_k) + "_" + scaling_name(scaled);
        if (write_heatmap(dir + "/" + stem, runs.front()->result.sample_weights,
                          "last layer, d_k=" + std::to_string(d_k) + ", " + scaling_name(scaled)))
          heatmaps.push_back(stem + ".png");
      }
    }
    summary.save(dir + "/training");
    timing.save(dir + "/timing");
    plot_training(dir, options.training.d_ks, training_images);
  }

  // ---- report ----
  std::ostringstream md;
  md << "# Attention without the 1/sqrt(d_k) scale\n\n"
     << "Generated by `vanishing` from `" << options.config_source << "`; every figure below was computed by this run.\n\n"
     << "## 1. At initialisation\n\n"
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
    const auto& b = options.training.base;
    md << "## 2. Training\n\n"
       << "Task `" << b.task << "` (" << b.task_options.dump() << "), a " << b.model.layers
       << "-layer pre-LN transformer with d_model " << b.model.d_model << " and one head of width d_k, "
       << b.model.positional << " positions, Adam lr " << b.lr << ", batch " << b.batch_size << ", "
       << b.steps << " steps, " << options.training.seeds << " seeds per setting; held-out accuracy every "
       << b.eval_interval << " steps on " << b.eval_batches << " batches from another seed.\n\n"
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
