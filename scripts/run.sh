#!/usr/bin/env bash
# README's first command: set up, build, and run qkv's main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# Single-threaded ranks, one per core, share the sweep's training runs: on 2 cores 16 of its
# runs took 9.7 s so against 13.7 s in one process on 2 threads, with the same training.csv
# (docs/experiments.md). Without mpirun, one process on every core.
if command -v mpirun >/dev/null; then
  np=$(nproc)
  root=()
  [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  mpirun "${root[@]}" --oversubscribe -np "$np" -x OMP_NUM_THREADS=1 ./build/examples/vanishing configs/vanishing.json
else
  ./build/examples/vanishing configs/vanishing.json
fi
