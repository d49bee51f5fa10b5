// run_experiment_cli (cli.h): the command line the experiment programs share, in the
// library so that a user's own program, with its own scorers registered, runs qkv's
// experiments on them exactly as qkv-vanishing and the others do.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.h"
#include "cli/help.h"
#include "core/parallel.h"
#include "dist/communicator.h"
#include "experiments/position.h"
#include "experiments/scale_alternatives.h"
#include "experiments/scorer_comparison.h"
#include "experiments/stability.h"
#include "experiments/vanishing.h"
#include "train/stop.h"

namespace qkv {
namespace {

// Loads CONFIG with the experiment's loader (--set overrides any key, as train's does),
// runs it, and turns every error into a message on stderr and exit status 1; a bad command
// line exits with 2, as train does. Under mpirun the ranks share the sweep's training runs
// and rank 0 writes and prints; a rank that fails ends the job (docs/mpi.md).
template <class Load, class Run>
int run_experiment(int argc, char** argv, const std::string& name, const std::string& description,
                   const std::string& default_config, Load load, Run run) {
  dist::MpiSession mpi(argc, argv);
  report_file_size_limit();
  CLI::App app{description};
  std::string config = default_config, out;
  std::vector<std::string> sets;
  app.add_option("config", config, "experiment config (keys in docs/experiments.md)")->capture_default_str();
  app.add_option("--set", sets, "Override a config key: --set training.run.train.steps=50 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_option("--out", out, "run folder (default: the config's out_dir)");
  app.footer(config_names_footer());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << name << ": " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  try {
    auto options = load(config, sets);
    if (!out.empty()) options.out_dir = out;
    const bool root = dist::is_root();
    if (root)
      std::cout << name << ": " << config << " -> " << options.out_dir << " (" << num_threads() << " threads"
                << (dist::size() > 1 ? " per rank, " + std::to_string(dist::size()) + " ranks" : "") << ")\n";
    run(options, std::cout);
    if (root) std::cout << "report: " << options.out_dir << "/report.md\n";
  } catch (const std::exception& e) {
    if (dist::size() > 1) dist::abort_job(name + ": " + e.what(), 1);
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

const std::vector<std::string>& experiment_names() {
  static const std::vector<std::string> names{"vanishing", "position", "scorers", "scale_alternatives", "stability"};
  return names;
}

int run_experiment_cli(const std::string& experiment, int argc, char** argv) {
  if (experiment == "vanishing")
    return run_experiment(argc, argv, experiment,
                          "Attention without the 1/sqrt(d_k) scale: saturation and vanishing gradients.",
                          "configs/vanishing.json", load_vanishing_options,
                          [](const auto& options, std::ostream& log) { run_vanishing_experiment(options, log); });
  if (experiment == "position")
    return run_experiment(argc, argv, experiment,
                          "Position information: none, sinusoidal, learned, relative bias, RoPE and ALiBi on an "
                          "order-dependent task.",
                          "configs/position.json", load_position_options,
                          [](const auto& options, std::ostream& log) { run_position_experiment(options, log); });
  if (experiment == "scorers")
    return run_experiment(argc, argv, experiment, "The attention scorers compared on two tasks, with their cost per step.",
                          "configs/scorers.json", load_scorer_comparison_options,
                          [](const auto& options, std::ostream& log) { run_scorer_comparison(options, log); });
  if (experiment == "scale_alternatives")
    return run_experiment(argc, argv, experiment,
                          "Alternatives to 1/sqrt(d_k): which keep the softmax's gradient alive, which learn.",
                          "configs/scale_alternatives.json", load_scale_alternatives_options,
                          [](const auto& options, std::ostream& log) { run_scale_alternatives(options, log); });
  if (experiment == "stability")
    return run_experiment(argc, argv, experiment,
                          "Training stability: attention logit growth without QK-norm, entropy collapse without "
                          "sigmaReparam (see docs/experiments.md).",
                          "configs/stability.json", load_stability_options,
                          [](const auto& options, std::ostream& log) { run_stability_experiment(options, log); });
  std::string valid;
  for (const std::string& n : experiment_names()) valid += (valid.empty() ? "" : ", ") + n;
  std::cerr << "run_experiment_cli: unknown experiment '" << experiment << "'; valid: " << valid << "\n";
  return 2;
}

}  // namespace qkv
