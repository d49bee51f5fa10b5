#!/usr/bin/env bash
# README's first command: set up, build, and run qkv's main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/examples/vanishing configs/vanishing.json
