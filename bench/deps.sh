#!/usr/bin/env bash
# Installs what the benchmarks need beyond qkv's own build (not needed to build or test
# qkv), non-interactively, only those missing:
# - the PyTorch side of the comparison: Debian's PyTorch and OpenBLAS's OpenMP build;
# - the GEMM anchors of `qkv_bench kernels`, which loads them at run time: OpenBLAS
#   (OpenMP build), BLIS (OpenMP build) and oneDNN.
set -euo pipefail
packages=(python3-torch libopenblas0-openmp libblis4-openmp libblis-openmp-dev libdnnl-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
