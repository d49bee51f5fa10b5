#!/usr/bin/env bash
# Installs the Debian packages qkv needs, non-interactively, and only those missing.
set -euo pipefail
# MPI (libopenmpi-dev, openmpi-bin) is optional to build but installed, so that README's
# commands give the full build: mpirun, data-parallel training and distributed sweeps.
packages=(g++ cmake make ninja-build libeigen3-dev nlohmann-json3-dev catch2 libcli11-dev gnuplot-nox libopenmpi-dev openmpi-bin)
packages+=("$@")  # what a caller needs besides, e.g. scripts/test.sh: clang for the sanitizer stage
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "qkv: installing missing packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
