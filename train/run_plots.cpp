#include "train/run_plots.h"

#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "io/safetensors.h"
#include "train/plot.h"
#include "train/run_logs.h"

namespace qkv {
namespace {
namespace fs = std::filesystem;

// A folder's name as a legend shows it.
std::string label(const std::string& run_dir) {
  std::string name = fs::path(run_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(run_dir).lexically_normal().parent_path().filename().string();
  return name;
}

// metrics_<i>.dat: step, loss, accuracy, lr, grad_norm; eval_<i>.dat: step, eval_loss,
// eval_accuracy at the evaluation steps.
void write_metrics_data(const std::vector<MetricsRow>& rows, const std::string& out_dir, size_t i) {
  std::ostringstream all, eval;
  all.precision(9);
  eval.precision(9);
  const double nan = std::nan("");
  for (const MetricsRow& r : rows) {
    all << r.step << "," << r.loss << "," << r.accuracy << "," << r.lr << "," << r.grad_norm << "\n";
    if (r.eval_loss) eval << r.step << "," << *r.eval_loss << "," << r.eval_accuracy.value_or(nan) << "\n";
  }
  write_file_atomically(out_dir + "/metrics_" + std::to_string(i) + ".dat", all.str());
  write_file_atomically(out_dir + "/eval_" + std::to_string(i) + ".dat", eval.str());
}

std::string metrics_plot(const std::vector<std::string>& labels) {
  std::ostringstream gp;
  gp << "set multiplot layout 2,2 title 'metrics: training batch (lines), held-out set (points)'\n"
     << "set key inside top right\nset xlabel 'step'\n";
  // (panel title, column of metrics_<i>.dat, column of eval_<i>.dat or 0, log scale)
  struct Panel {
    const char* title;
    int column;
    int eval_column;
    bool log_y;
  };
  for (const Panel& p : {Panel{"loss (cross-entropy)", 2, 2, false}, Panel{"accuracy", 3, 3, false},
                         Panel{"learning rate", 4, 0, false}, Panel{"gradient norm (before clipping)", 5, 0, true}}) {
    gp << "set title '" << p.title << "'\n" << (p.log_y ? "set logscale y\n" : "unset logscale y\n") << "plot ";
    for (size_t i = 0; i < labels.size(); ++i) {
      const std::string n = std::to_string(i);
      gp << (i ? ", " : "") << "'metrics_" << n << ".dat' using 1:" << p.column << " with lines lw 1.5 lc rgb '"
         << line_color(i) << "' title " << gnuplot_string(labels[i]);
      if (p.eval_column)
        gp << ", 'eval_" << n << ".dat' using 1:" << p.eval_column << " with linespoints dt 2 pt 7 ps 0.8 lc rgb '"
           << line_color(i) << "' title " << gnuplot_string(labels[i] + " held-out");
    }
    gp << "\n";
  }
  gp << "unset multiplot\n";
  return gp.str();
}

// A run's probes as plot_runs draws them, under the label of its folder.
struct RunProbes {
  std::string label;
  ProbesTable table;
};

// probes_<i>.dat: step, then per layer and head entropy, jacobian_norm, dead_fraction,
// max_weight, then per parameter grad_norm and update_ratio.
void write_probes_data(const ProbesTable& table, const std::string& out_dir, size_t i) {
  std::ostringstream data;
  data.precision(9);
  for (const ProbesTable::Row& r : table.rows) {
    data << r.step;
    for (double x : r.attention) data << "," << x;
    for (double x : r.parameters) data << "," << x;
    data << "\n";
  }
  write_file_atomically(out_dir + "/probes_" + std::to_string(i) + ".dat", data.str());
}

// The probes of one run, or of several overlaid. One run: a colour per head (per parameter
// below). Several: a colour per run, so runs compare at a glance, and within a run a point
// type and dash per head; the gradient panels then name each run once in their key.
std::string probes_plot(const std::vector<RunProbes>& runs) {
  const bool overlay = runs.size() > 1;
  std::ostringstream gp;
  gp << "set multiplot layout 3,2 title 'probes: attention per layer and head; gradients per parameter'\n"
     << "set xlabel 'step'\nset key inside top right font ',8'\n";
  const char* attention_titles[] = {"attention entropy (nats)", "softmax Jacobian norm", "dead-row fraction (Jacobian norm < 1e-3)",
                                    "max attention weight"};
  for (int stat = 0; stat < 4; ++stat) {
    gp << "set title '" << attention_titles[stat] << "'\nplot ";
    const char* separator = "";
    for (size_t i = 0; i < runs.size(); ++i) {
      const std::vector<size_t>& heads_per_layer = runs[i].table.heads_per_layer;
      size_t h = 0;
      for (size_t l = 0; l < heads_per_layer.size(); ++l)
        for (size_t head = 0; head < heads_per_layer[l]; ++head, ++h) {
          const std::string name = "layer " + std::to_string(l) + " head " + std::to_string(head);
          gp << separator << "'probes_" << i << ".dat' using 1:" << 2 + 4 * h + stat << " with linespoints pt "
             << 1 + h % 7 << " ps 0.6 dt " << 1 + (overlay ? h % 5 : h / 10 % 5) << " lc rgb '"
             << line_color(overlay ? i : h) << "' title " << gnuplot_string(overlay ? runs[i].label + " " + name : name);
          separator = ", ";
        }
    }
    gp << "\n";
  }
  for (int stat = 0; stat < 2; ++stat) {
    gp << "set title '" << (stat ? "update / weight ratio" : "gradient norm")
       << ", one line per parameter'\nset logscale y\nset format y '%g'\n" << (overlay ? "" : "unset key\n") << "plot ";
    const char* separator = "";
    for (size_t i = 0; i < runs.size(); ++i) {
      const size_t base = 2 + 4 * runs[i].table.heads();
      for (size_t p = 0; p < runs[i].table.parameters.size(); ++p) {
        gp << separator << "'probes_" << i << ".dat' using 1:" << base + 2 * p + stat << " with lines lc rgb '"
           << line_color(overlay ? i : p) << "' "
           << (overlay && p == 0 ? "title " + gnuplot_string(runs[i].label) : std::string("notitle"));
        separator = ", ";
      }
    }
    gp << "\nunset logscale y\nset key\n";
  }
  gp << "unset multiplot\n";
  return gp.str();
}

}  // namespace

std::vector<std::string> plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_dir) {
  if (run_dirs.empty()) throw std::runtime_error("plot_runs: no run folder given");
  fs::create_directories(out_dir);
  std::vector<std::string> labels, images;
  for (size_t i = 0; i < run_dirs.size(); ++i) {
    const std::string path = run_dirs[i] + "/metrics.jsonl";
    if (!fs::exists(path)) throw std::runtime_error(run_dirs[i] + ": no metrics.jsonl in it; is this a run folder?");
    write_metrics_data(read_metrics_jsonl(path), out_dir, i);
    labels.push_back(label(run_dirs[i]));
  }
  if (render_plot(out_dir + "/metrics", metrics_plot(labels), 1100, 800)) images.push_back(out_dir + "/metrics.png");
  // Probes of every run that recorded them, overlaid as the metrics are.
  std::vector<RunProbes> probes;
  for (size_t i = 0; i < run_dirs.size(); ++i) {
    const std::string path = run_dirs[i] + "/probes.jsonl";
    if (!fs::exists(path)) continue;
    ProbesTable table = read_probes_jsonl(path);
    if (table.rows.empty()) continue;
    write_probes_data(table, out_dir, probes.size());
    probes.push_back({labels[i], std::move(table)});
  }
  if (!probes.empty() && render_plot(out_dir + "/probes", probes_plot(probes), 1100, 1100))
    images.push_back(out_dir + "/probes.png");
  return images;
}

}  // namespace qkv
