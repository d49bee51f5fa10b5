#!/usr/bin/env bash
# Installs what the PyTorch side of the benchmark needs (not needed to build or test qkv):
# Debian's PyTorch and OpenBLAS's OpenMP build, non-interactively, only those missing.
set -euo pipefail
packages=(python3-torch libopenblas0-openmp)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
