// What else keeps the softmax alive: unscaled q.k, q.k/sqrt(d_k), q.k/d_k, QK-norm and a
// learned temperature, probed at initialisation and trained over d_k; tables, plots,
// heatmaps and report.md in the run folder.
//
//   scale_alternatives [CONFIG] [--out DIR]     (CONFIG defaults to configs/scale_alternatives.json)
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_experiment_cli("scale_alternatives", argc, argv); }
