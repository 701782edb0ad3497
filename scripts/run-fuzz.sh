#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and runs each for a
# bounded time on a scratch copy of its seed corpus (the committed corpus is not
# modified). Fails when a target reports a finding; the reproducer is left in
# build-fuzz/findings/<target>/ (see docs/FUZZING.md).
#   scripts/run-fuzz.sh [seconds-per-target]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scripts/install-deps.sh
build="${DSV4_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="$(nproc)"
((jobs > 2)) && jobs=2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DDSV4_FUZZ=ON \
      -DDSV4_BUILD_TESTS=OFF -DDSV4_BUILD_EXAMPLES=OFF -DDSV4_BUILD_BENCH=OFF -DDSV4_ARCH=none
targets=(fuzz_safetensors_header fuzz_shard_index fuzz_config_json fuzz_state_file
         fuzz_tokenizer_json fuzz_pyjson fuzz_chat_messages fuzz_completion_parse fuzz_completion_stream)
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  work="$build/fuzz-run/$t"
  findings="$build/findings/$t"
  rm -rf "$work"
  mkdir -p "$work" "$findings"
  cp fuzz/corpus/"$t"/* "$work"/
  echo "== $t: ${seconds}s on $(ls "$work" | wc -l) seeds"
  if ! "$build/fuzz/$t" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
         -dict=fuzz/json.dict -print_final_stats=1 -artifact_prefix="$findings/" >"$build/fuzz-run/$t.log" 2>&1; then
    tail -n 60 "$build/fuzz-run/$t.log"
    echo "!! $t FAILED: reproducer in $findings/, full log $build/fuzz-run/$t.log"
    failed+=("$t")
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "$build/fuzz-run/$t.log" | tail -n 2 || true
  fi
done
if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: all ${#targets[@]} targets ran ${seconds}s without a finding"
