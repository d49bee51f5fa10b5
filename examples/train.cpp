// train: trains a SequenceModel on a toy task from a JSON run config.
//
//   train CONFIG [--set section.key=value]... [--out DIR] [--overwrite]
//   train --resume DIR [--set train.steps=N]...
//   mpirun -np N train CONFIG ...   (data parallel: README, "Running on several machines")
//
// Exit codes: 0 done; 1 an error (bad config, unreadable files, bad checkpoint), with the
// message on stderr; 2 a bad command line; 3 a non-finite loss or gradient stopped the run
// (the last good checkpoint is kept); 130 stopped by SIGINT (Ctrl-C) and 143 by SIGTERM,
// after saving a checkpoint that --resume continues from.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "qkv.h"

namespace {
int exit_code_of_signal(int signal) { return 128 + signal; }  // the shell's convention

// On several ranks a rank that fails ends the job: the others would wait for it forever.
int fail(const std::string& message, int exit_code) {
  if (qkv::dist::size() > 1) qkv::dist::abort_job(message, exit_code);
  std::cerr << message << "\n";
  return exit_code;
}
}  // namespace

int main(int argc, char** argv) {
  qkv::dist::MpiSession mpi(argc, argv);
  CLI::App app{"Trains a SequenceModel on a toy task from a JSON run config (see docs/train.md)."};
  std::string config_path, out_dir, resume_dir;
  std::vector<std::string> sets;
  bool overwrite = false;
  app.add_option("config", config_path, "Run config (JSON), e.g. configs/recall.json");
  app.add_option("--set", sets, "Override a config key: --set optimizer.lr=3e-4 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  auto* out = app.add_option("--out", out_dir, "Run folder (default: the config's train.out_dir)");
  auto* resume = app.add_option("--resume", resume_dir,
                                "Continue the run in this folder from its checkpoint, with its config.json; "
                                "--set train.steps=N trains further");
  app.add_flag("--overwrite", overwrite, "Start afresh in a run folder that already holds a run");
  resume->excludes(out);
  app.footer(
      "Exit codes: 0 done, 1 error, 2 bad command line, 3 non-finite loss or gradient,\n"
      "130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (a checkpoint is saved first).");
  try {
    app.parse(argc, argv);
    if (config_path.empty() == resume_dir.empty())
      throw CLI::ValidationError(resume_dir.empty() ? "give a CONFIG file (or --resume DIR)"
                                                    : "give either CONFIG or --resume DIR, not both: a resumed "
                                                      "run takes its config from DIR/config.json");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "train: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }

  try {
    qkv::RunConfig config;
    if (!resume_dir.empty()) {
      config = qkv::load_run_config(resume_dir, sets);
    } else {
      config = qkv::load_config(config_path, sets);
      if (out->count() > 0) qkv::set_out_dir(config, out_dir, "--out");
    }
    qkv::install_stop_handlers();
    qkv::Trainer trainer(config, {.resume = !resume_dir.empty(), .overwrite = overwrite});
    const qkv::TrainResult result = trainer.run();
    if (result.reason == qkv::StopReason::interrupted) return exit_code_of_signal(result.signal);
    return 0;
  } catch (const qkv::NonFiniteError& e) {
    std::cout << std::flush;
    return fail("\ntrain: non-finite values: " + std::string(e.what()), 3);
  } catch (const std::exception& e) {
    std::cout << std::flush;
    return fail("train: " + std::string(e.what()), 1);
  }
}
