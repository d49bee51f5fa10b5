// The command line the experiment programs share, parsed with CLI11:
//   PROGRAM [CONFIG] [--set path.to.key=value]... [--out DIR]
// Loads CONFIG with the experiment's loader (--set overrides any key, as train's does),
// runs it, and turns every error into a message on stderr and exit status 1; a bad command
// line exits with 2, as train does.
// Under mpirun the ranks share the sweep's training runs and rank 0 writes and prints; a
// rank that fails ends the job (README, "Running on several machines").
#pragma once

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <qkv/cli/help.h>
#include <qkv/core/parallel.h>
#include <qkv/dist/communicator.h>

template <class Load, class Run>
int run_experiment_program(int argc, char** argv, const std::string& name, const std::string& description,
                           const std::string& default_config, Load load, Run run) {
  qkv::dist::MpiSession mpi(argc, argv);
  CLI::App app{description};
  std::string config = default_config, out;
  std::vector<std::string> sets;
  app.add_option("config", config, "experiment config (keys in docs/experiments.md)")->capture_default_str();
  app.add_option("--set", sets, "Override a config key: --set training.run.train.steps=50 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_option("--out", out, "run folder (default: the config's out_dir)");
  app.footer(qkv::config_names_footer());
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
    const bool root = qkv::dist::is_root();
    if (root)
      std::cout << name << ": " << config << " -> " << options.out_dir << " (" << qkv::num_threads() << " threads"
                << (qkv::dist::size() > 1 ? " per rank, " + std::to_string(qkv::dist::size()) + " ranks" : "") << ")\n";
    run(options, std::cout);
    if (root) std::cout << "report: " << options.out_dir << "/report.md\n";
  } catch (const std::exception& e) {
    if (qkv::dist::size() > 1) qkv::dist::abort_job(name + ": " + e.what(), 1);
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
