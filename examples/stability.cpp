// Two published results on training stability at toy scale: the largest attention logit
// grows and training fails at high learning rates without QK-norm (Wortsman et al. 2023),
// and attention entropy collapses without σReparam (Zhai et al. 2023). Trains the sweeps,
// then writes tables, plots and report.md to the run folder.
//
//   stability [CONFIG] [--out DIR]     (CONFIG defaults to configs/stability.json)
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_experiment_cli("stability", argc, argv); }
