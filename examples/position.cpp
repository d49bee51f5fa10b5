// Position information: a small transformer trained on an order-dependent task with no
// positional encoding, sinusoidal, learned absolute and relative bias; accuracy curves,
// the order-blind ceiling, a permutation-equivariance check on the trained models,
// attention heatmaps and report.md in the run folder.
//
//   position [CONFIG] [--out DIR]     (CONFIG defaults to configs/position.json)
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_experiment_cli("position", argc, argv); }
