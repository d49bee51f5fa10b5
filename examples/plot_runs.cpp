// plot_runs: re-plots a run folder, or overlays the metrics and probes of several (to
// compare two configs), through gnuplot (train/run_plots.h). Installed as qkv-plot.
//
//   plot_runs RUN_DIR                       -> RUN_DIR/plots/metrics.png (+ probes.png)
//   plot_runs RUN_DIR RUN_DIR... --out DIR  -> DIR/metrics.png (+ probes.png), one colour per run
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include <qkv/qkv.h>

int main(int argc, char** argv) {
  CLI::App app{"Plots the metrics and probes of one run folder, or overlays several (see docs/train.md)."};
  std::vector<std::string> runs;
  std::string out;
  app.add_option("runs", runs, "Run folders (each holds metrics.jsonl)")->required();
  app.add_option("--out", out, "Folder of the plots (default for one run: RUN_DIR/plots; needed for several)");
  const std::string name = std::filesystem::path(argc > 0 ? argv[0] : "plot_runs").filename().string();
  try {
    app.parse(argc, argv);
    if (out.empty() && runs.size() > 1) throw CLI::ValidationError("--out DIR is needed to overlay several runs");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << name << ": " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  try {
    if (!qkv::gnuplot_available()) std::cerr << name << ": gnuplot is not installed; writing the scripts only\n";
    const std::vector<std::string> images = qkv::plot_runs(runs, out.empty() ? runs[0] + "/plots" : out);
    for (const std::string& png : images) std::cout << png << "\n";
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
