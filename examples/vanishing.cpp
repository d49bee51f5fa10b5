// qkv's headline experiment: without the 1/sqrt(d_k) scale, attention scores spread like
// sqrt(d_k), softmax saturates and the gradient through it vanishes. Probes untrained
// attention over a sweep of d_k and scorers, trains scaled against unscaled models, and
// writes tables, plots and report.md to the run folder.
//
//   vanishing [CONFIG] [--out DIR]     (CONFIG defaults to configs/vanishing.json)
#include <qkv/qkv.h>

#include "experiments/vanishing.h"
#include "experiment_cli.h"

int main(int argc, char** argv) {
  return run_experiment_program(argc, argv, "vanishing", "Attention without the 1/sqrt(d_k) scale: saturation and vanishing gradients (see README).", "configs/vanishing.json",
                                qkv::load_vanishing_options,
                                [](const auto& options, std::ostream& log) { qkv::run_vanishing_experiment(options, log); });
}
