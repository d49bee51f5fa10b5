// run_train_cli (cli.h): the train program's command line, in the library so that a user's
// own program gets it whole, MPI included.
#include "cli.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/help.h"
#include "dist/communicator.h"
#include "train/config.h"
#include "train/inspect.h"
#include "train/schema.h"
#include "train/stop.h"
#include "train/trainer.h"

namespace qkv {
namespace {

// The message of an error that ends the program. On several ranks a rank that fails ends
// the whole job: the others would wait for it forever.
int fail(const std::string& message, int exit_code) {
  if (dist::size() > 1) dist::abort_job(message, exit_code);
  std::cerr << message << "\n";
  return exit_code;
}

}  // namespace

int run_train_cli(int argc, char** argv, const std::string& description) {
  dist::MpiSession mpi(argc, argv);
  // Messages that suggest a command name this program as it was started (a path, or the
  // installed name found on PATH); error messages start with its file name, as tools do.
  const std::string program = argc > 0 ? argv[0] : "train";
  const std::string name = std::filesystem::path(program).filename().string();
  CLI::App app{description};
  std::string config_path, out_dir, resume_dir, eval_dir, input;
  int64_t examples = 3;
  std::vector<std::string> sets;
  bool overwrite = false, list_keys = false;
  app.add_option("config", config_path, "Run config (JSON), e.g. configs/recall.json");
  app.add_option("--set", sets, "Override a config key: --set optimizer.lr=3e-4 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  auto* out = app.add_option("--out", out_dir, "Run folder (default: the config's train.out_dir)");
  auto* resume = app.add_option("--resume", resume_dir,
                                "Continue the run in this folder from its checkpoint, with its config.json; "
                                "--set train.steps=N trains further");
  app.add_flag("--overwrite", overwrite, "Start afresh in a run folder that already holds a run");
  auto* eval = app.add_option("--eval", eval_dir,
                              "Inspect a trained run: held-out accuracy, a few examples with predictions, and "
                              "attention heatmaps of every layer and head in DIR/inspect (or --out)");
  app.add_option("--examples", examples, "Examples --eval prints")->check(CLI::Range(0, 1000000));
  app.add_option("--input", input,
                 "With --eval: token ids separated by spaces (\"3 1 4 1\"); prints the model's prediction for "
                 "them, and with --out DIR their attention heatmaps")
      ->needs(eval);
  app.add_flag("--list-keys", list_keys, "Print every config key with its type, default and range, and exit");
  resume->excludes(out);
  eval->excludes(resume);
  app.footer(config_names_footer() +
             "\nWarm start from another run's weights (new optimiser and schedule): --set train.init_from=DIR.\n"
             "Exit codes: 0 done, 1 error, 2 bad command line, 3 non-finite loss or gradient,\n"
             "130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (a checkpoint is saved first).");
  try {
    app.parse(argc, argv);
    if (list_keys) {
      std::cout << config_schema_text();
      return 0;
    }
    if (!eval_dir.empty() && !config_path.empty())
      throw CLI::ValidationError("give either CONFIG or --eval DIR, not both: --eval takes the run's config");
    if (eval_dir.empty() && config_path.empty() == resume_dir.empty())
      throw CLI::ValidationError(resume_dir.empty() ? "give a CONFIG file (or --resume DIR)"
                                                    : "give either CONFIG or --resume DIR, not both: a resumed "
                                                      "run takes its config from DIR/config.json");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << name << ": " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }

  try {
    if (!eval_dir.empty()) {
      inspect_run(eval_dir, {.examples = examples, .out_dir = out_dir, .overrides = sets, .input = input}, std::cout);
      return 0;
    }
    RunConfig config;
    if (!resume_dir.empty()) {
      config = load_run_config(resume_dir, sets);
    } else {
      config = load_config(config_path, sets);
      if (out->count() > 0) set_out_dir(config, out_dir, "--out");
    }
    install_stop_handlers();
    Trainer trainer(config, {.resume = !resume_dir.empty(), .overwrite = overwrite, .program = program});
    const TrainResult result = trainer.run();
    if (result.reason == StopReason::interrupted) return 128 + result.signal;  // the shell's convention
    return 0;
  } catch (const NonFiniteError& e) {
    std::cout << std::flush;
    return fail("\n" + name + ": non-finite values: " + e.what(), 3);
  } catch (const std::exception& e) {
    std::cout << std::flush;
    return fail(name + ": " + e.what(), 1);
  }
}

int run_train_cli(int argc, char** argv) {
  return run_train_cli(argc, argv, "Trains a SequenceModel on a toy task from a JSON run config (see docs/train.md).");
}

}  // namespace qkv
