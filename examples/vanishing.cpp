// qkv's headline experiment: without the 1/sqrt(d_k) scale, attention scores spread like
// sqrt(d_k), softmax saturates and the gradient through it vanishes. Probes untrained
// attention over a sweep of d_k and scorers, trains scaled against unscaled models, and
// writes tables, plots and report.md to the run folder.
//
//   vanishing [CONFIG] [--out DIR]     (CONFIG defaults to configs/vanishing.json)
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_experiment_cli("vanishing", argc, argv); }
