#!/usr/bin/env bash
# Builds the test suite for instruction sets below this machine's, so the kernels' portable
# (non-AVX-512) paths compile and pass too, and runs it:
#   preset x86-64 (build-x86-64): DSV4_ARCH=x86-64, baseline x86-64 (SSE2, no FMA)
#   preset avx2 (build-avx2):     DSV4_ARCH=x86-64-v3, AVX2 + FMA
# Tests that need an instruction set the build lacks skip with a message saying so.
#   scripts/run-portable-tests.sh [x86-64|avx2]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"
((jobs > 2)) && jobs=2
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cpu_has() { grep -qw "$1" /proc/cpuinfo; }

builds=("$@")
((${#builds[@]})) || builds=(x86-64 avx2)
for preset in "${builds[@]}"; do
  # presets of CMakePresets.json: build-<preset>, tests and examples (some command-line tests
  # run them), no benchmarks
  case "$preset" in
    x86-64) needs=() ;;
    avx2) needs=(avx2 fma bmi2) ;;
    *) echo "unknown build '$preset' (expected x86-64 or avx2)" >&2; exit 2 ;;
  esac
  start=$SECONDS
  cmake --preset "$preset" "${launcher[@]}"
  cmake --build --preset "$preset" -j"$jobs"
  built=$SECONDS
  for flag in "${needs[@]}"; do
    if ! cpu_has "$flag"; then
      echo "== build-$preset: built in $((built - start)) s; not run: this CPU lacks $flag" >&2
      continue 2
    fi
  done
  ctest --preset "$preset" -j"$jobs"
  echo "== build-$preset: built in $((built - start)) s, tests ran in $((SECONDS - built)) s"
done
