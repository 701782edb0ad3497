#!/usr/bin/env bash
# bench/tokenizer/report.sh — tokenizer load time and encode throughput of dsv4 against
# Hugging Face tokenizers measured in the same run, as Markdown table rows on stdout.
#
#   bench/tokenizer/report.sh BUILD_DIR
#
# Runs BUILD_DIR/bench/tokenizer/dsv4_bench_tokenizer (build it first). When node and npm
# are present, installs the npm package tokenizers@0.23.2 into BUILD_DIR/bench-node (once)
# and runs hf_anchor.js; otherwise, or when that fails, the HF column says why the anchor is
# unavailable. Benchmark details go to stderr. DSV4_BENCH_QUICK=1: fewer repetitions.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:?usage: bench/tokenizer/report.sh BUILD_DIR}"
build="$(cd "$build" && pwd)"
exe="$build/bench/tokenizer/dsv4_bench_tokenizer"
data="$root/tests/data/golden-tokenizer"
hf_version=0.23.2
node_dir="$build/bench-node"

if [[ ! -x "$exe" ]]; then
  echo "report.sh: $exe is not built (cmake --build $build --target dsv4_bench_tokenizer)" >&2
  exit 1
fi

repeats=7
if [[ -n "${DSV4_BENCH_QUICK:-}" && "${DSV4_BENCH_QUICK}" != 0 ]]; then repeats=3; fi

# The anchor: its JSON in $anchor, or the reason it is missing in $unavailable.
anchor="$node_dir/hf_anchor.json"
unavailable=""
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  unavailable="node/npm not found"
else
  installed="$(node -p "require('$node_dir/node_modules/tokenizers/package.json').version" 2> /dev/null || true)"
  if [[ "$installed" != "$hf_version" ]]; then
    echo "report.sh: installing tokenizers@$hf_version into $node_dir" >&2
    mkdir -p "$node_dir"
    if ! npm install --prefix "$node_dir" --no-audit --no-fund --no-save --loglevel=error \
        "tokenizers@$hf_version" >&2; then
      unavailable="npm install tokenizers@$hf_version failed"
    fi
  fi
  if [[ -z "$unavailable" ]]; then
    echo "report.sh: measuring HF tokenizers $hf_version" >&2
    if ! NODE_PATH="$node_dir/node_modules" node "$here/hf_anchor.js" --tokenizer "$data/tokenizer.json" \
        --text "$data/long_text.txt" --repeats "$repeats" > "$anchor"; then
      unavailable="hf_anchor.js failed"
    fi
  fi
fi

echo "report.sh: measuring dsv4" >&2
if [[ -z "$unavailable" ]]; then
  "$exe" --hf-anchor="$anchor"
else
  "$exe" --hf-unavailable="$unavailable"
fi
