#!/usr/bin/env bash
# Cross-builds the test suite for aarch64 (64-bit ARM Linux: Graviton, Ampere, Apple silicon
# in a Linux VM) with Debian's cross toolchain and runs it under qemu-user: the kernels take
# xsimd's NEON paths and the golden tests hold them to the official reference's outputs.
# Preset arm64 (build-arm64, toolchain cmake/aarch64-linux-gnu.cmake); the examples are not
# built, so the text tests that run the command-line programs skip. Installs the cross
# compiler, qemu and the arm64 multiarch libraries (TBB, GoogleTest, PCRE2) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO dpkg --add-architecture arm64  # install-deps.sh runs apt-get update before installing
fi
scripts/install-deps.sh g++-aarch64-linux-gnu qemu-user libtbb-dev:arm64 libgtest-dev:arm64 libpcre2-dev:arm64
jobs="$(nproc)"
((jobs > 2)) && jobs=2
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
start=$SECONDS
cmake --preset arm64 "${launcher[@]}"
cmake --build --preset arm64 -j"$jobs"
built=$SECONDS
ctest --preset arm64 -j"$jobs"
echo "== build-arm64: built in $((built - start)) s, tests ran under qemu in $((SECONDS - built)) s"
