// train: trains a SequenceModel on a toy task from a JSON run config (command line and
// exit codes: examples/train_cli.h; installed as qkv-train).
#include "train_cli.h"

int main(int argc, char** argv) {
  return qkv_cli::run_train_program(argc, argv,
                                    "Trains a SequenceModel on a toy task from a JSON run config (see docs/train.md).");
}
