// Two published results on training stability at toy scale: the largest attention logit
// grows and training fails at high learning rates without QK-norm (Wortsman et al. 2023),
// and attention entropy collapses without σReparam (Zhai et al. 2023). Trains the sweeps,
// then writes tables, plots and report.md to the run folder.
//
//   stability [CONFIG] [--out DIR]     (CONFIG defaults to configs/stability.json)
#include <qkv/qkv.h>

#include "experiments/stability.h"
#include "experiment_cli.h"

int main(int argc, char** argv) {
  return run_experiment_program(argc, argv, "stability",
                                "Training stability: attention logit growth without QK-norm, entropy collapse "
                                "without sigmaReparam (see docs/experiments.md).",
                                "configs/stability.json", qkv::load_stability_options,
                                [](const auto& options, std::ostream& log) { qkv::run_stability_experiment(options, log); });
}
