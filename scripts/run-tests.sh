#!/usr/bin/env bash
# Installs what is missing, builds everything (library checks, tests, examples,
# benchmarks) and runs the whole test suite. Every option the suite needs is stated, so a
# build folder configured before (e.g. by scripts/run-example.sh) cannot leave tests out;
# ctest fails when it finds no test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build="${DSV4_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDSV4_BUILD_TESTS=ON -DDSV4_BUILD_EXAMPLES=ON -DDSV4_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j"$(nproc)"
