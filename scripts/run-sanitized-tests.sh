#!/usr/bin/env bash
# Builds the tests and examples with AddressSanitizer + UndefinedBehaviorSanitizer
# (the asan-ubsan preset of CMakePresets.json: build-asan, DSV4_SANITIZE=ON, no
# benchmarks) and runs the whole test suite. Any sanitizer report fails its test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"
((jobs > 2)) && jobs=2
cmake --preset asan-ubsan
cmake --build --preset asan-ubsan -j"$jobs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --preset asan-ubsan --no-tests=error -j"$jobs"
