// Attention scorers compared: the same small transformer trained with each scorer
// (additive, dot, general, scaled_dot, scaled_dot with a relative bias) on a few tasks;
// accuracy curves per task, a results table with ms per step and parameter counts, and
// report.md in the run folder.
//
//   scorers [CONFIG] [--out DIR]     (CONFIG defaults to configs/scorers.json)
#include <qkv/qkv.h>

#include "experiments/scorer_comparison.h"
#include "experiment_cli.h"

int main(int argc, char** argv) {
  return run_experiment_program(argc, argv, "scorers", "The attention scorers compared on two tasks, with their cost per step.", "configs/scorers.json",
                                qkv::load_scorer_comparison_options,
                                [](const auto& options, std::ostream& log) { qkv::run_scorer_comparison(options, log); });
}
