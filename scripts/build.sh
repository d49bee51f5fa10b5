#!/usr/bin/env bash
# Installs what is missing, then configures and builds qkv (Release, OpenMP) in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
