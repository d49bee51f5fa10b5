// train: trains a SequenceModel on a toy task from a JSON run config (command line and
// exit codes: cli.h; installed as qkv-train).
#include <qkv/cli.h>

int main(int argc, char** argv) { return qkv::run_train_cli(argc, argv); }
