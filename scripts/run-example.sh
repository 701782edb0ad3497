#!/usr/bin/env bash
# Installs what is missing, builds the examples and generates from the bundled tiny
# checkpoint (tests/data/golden/flash-mini). Extra arguments go to dsv4-generate.
# It configures the shared build folder with every option it relies on stated, so that
# scripts/run-tests.sh afterwards (which states its own) builds and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build="${DSV4_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDSV4_BUILD_EXAMPLES=ON
cmake --build "$build" -j"$(nproc)" --target dsv4-generate
"$build"/examples/dsv4-generate "$@"
