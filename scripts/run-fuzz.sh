#!/usr/bin/env bash
# Runs every libFuzzer target for a while: scripts/run-fuzz.sh FUZZ_BUILD_DIR [TARGET...]
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_OUT      where new corpus entries, crashes and logs go (default
#                 /tmp/sandboxd-fuzz; outside the checkout on purpose)
# Seeds are read from tests/fuzz/corpus/<target>/ and never written; what the fuzzer finds
# goes to $FUZZ_OUT/<target>/corpus, crashes to $FUZZ_OUT/<target>/crash-*, and the last
# stats line of each run is printed. To keep a finding as a seed, minimize it into the
# tree: build/fuzz/tests/fuzz/fuzz_T -merge=1 tests/fuzz/corpus/T $FUZZ_OUT/T/corpus
set -euo pipefail
build=${1:?fuzz build dir}
shift
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-/tmp/sandboxd-fuzz}
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(request_parsing event_codec config http_server)

# Symbolized stacks in crash reports (llvm-symbolizer of package llvm reads clang-19's
# DWARF well enough).
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]]; then
  sym=$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || true)
  [[ -n "$sym" ]] && export ASAN_SYMBOLIZER_PATH=$sym
fi

status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/$t/corpus"
  echo "== fuzz_$t for ${seconds}s (findings: $out/$t)"
  # -timeout: an input that takes longer than 10 s is a hang; -rss_limit_mb: 2 GB.
  if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/$t/" "$out/$t/corpus" "$src/tests/fuzz/corpus/$t" \
      >"$out/$t/log" 2>&1; then
    status=1
    echo "   FAILED: see $out/$t/log and $out/$t/crash-* / timeout-*" >&2
  fi
  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$out/$t/log" | tail -1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$out/$t/log" || true
done
exit $status
