// Attention scorers compared: the same small transformer trained with each scorer
// (additive, dot, general, scaled_dot, scaled_dot with a relative bias) on a few tasks;
// accuracy curves per task, a results table with ms per step and parameter counts, and
// report.md in the run folder.
//
//   scorers [CONFIG] [--out DIR]     (CONFIG defaults to configs/scorers.json)
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_experiment_cli("scorers", argc, argv); }
