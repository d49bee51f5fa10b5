// qkv's command line as a library: a program that registers its own scorers first and then
// hands its command line to run_train_cli has everything qkv-train has, for its scorers too.
//
//   PROGRAM CONFIG [--set section.key=value]... [--out DIR] [--overwrite]
//   PROGRAM --resume DIR [--set train.steps=N]...
//   PROGRAM --eval DIR [--set task.eval_batches=N]... [--examples N] [--out DIR]
//   PROGRAM --eval DIR --input "3 1 4 1" [--out DIR]   (the prediction for the user's own input)
//   PROGRAM --list-keys
//   mpirun -np N PROGRAM CONFIG ...          (data parallel: docs/mpi.md)
//
// Exit codes: 0 done; 1 an error (bad config, unreadable files, bad checkpoint), with the
// message on stderr; 2 a bad command line; 3 a non-finite loss or gradient stopped the run
// (the last good checkpoint is kept); 130 stopped by SIGINT (Ctrl-C) and 143 by SIGTERM,
// after saving a checkpoint that --resume continues from.
#pragma once

#include <string>
#include <vector>

namespace qkv {

// Parses argv, runs what it asks for and returns the exit code for main to return. Starts
// and ends MPI itself (dist::MpiSession), so main must not hold a session of its own.
int run_train_cli(int argc, char** argv, const std::string& description);
// The same with qkv-train's own description in --help.
int run_train_cli(int argc, char** argv);

// qkv's experiments as a library, the same way: a program that registers its own scorers
// and then calls run_experiment_cli("vanishing", argc, argv) runs the experiment with those
// kinds allowed in its config (probe.scorers, training sweeps), exactly as qkv-vanishing:
//   PROGRAM [CONFIG] [--set path.to.key=value]... [--out DIR]
// Exit codes: 0 done, 1 an error (message on stderr), 2 a bad command line or an experiment
// not in experiment_names().
int run_experiment_cli(const std::string& experiment, int argc, char** argv);
const std::vector<std::string>& experiment_names();  // vanishing, position, scorers, scale_alternatives, stability

}  // namespace qkv
