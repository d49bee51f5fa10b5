#!/usr/bin/env bash
# Installs what is missing, then configures and builds qkv (Release, OpenMP) in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# Ninja, where the build folder is new: make builds a folder's objects only after the
# folders below it are built, which left one of two cores idle for half of a fresh build.
generator=()
[ -f build/CMakeCache.txt ] || generator=(-G Ninja)
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
