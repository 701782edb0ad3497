#!/usr/bin/env bash
# Installs the Debian (bookworm) packages dsv4 builds with, and any given as arguments
# (e.g. libtbb-dev:arm64), when any is missing.
#   scripts/install-deps.sh [--bench] [more packages...]
# --bench: also what bench/report needs beyond the build (matplotlib draws its plot).
set -euo pipefail
packages=(build-essential cmake pkg-config git
          libxtensor-dev libxsimd-dev xtl-dev libtbb-dev nlohmann-json3-dev libpcre2-dev
          libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
          clang libclang-rt-14-dev)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-matplotlib) ;;
    -*) echo "usage: $0 [--bench] [packages...]" >&2; exit 2 ;;
    *) packages+=("$arg") ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
