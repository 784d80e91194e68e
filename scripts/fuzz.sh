#!/usr/bin/env bash
# fuzz.sh [SECONDS_PER_TARGET]: builds the libFuzzer targets (make fuzz: build-fuzz/fuzz_*, clang, ASan + UBSan) and
# runs each, one after another, on a copy of its seed corpus (fuzz/corpus/<target>/) with its dictionary
# (fuzz/dict/<target>.dict) for SECONDS_PER_TARGET seconds (default 60), -timeout=10 -rss_limit_mb=2048.
# Prints per target the executions, exec/s, coverage (cov: edges, ft: features) and ok/FAILED, then
# "N passed, N failed"; exits non-zero when a target crashed, leaked, hung or broke a property, printing the
# saved input's path and the report (stack). Docs: docs/fuzzing.md.
# Environment: FUZZ_TARGETS="fuzz_config ..." (default: every fuzz/*.cpp), FUZZ_ARGS="-runs=1000000 ..." (more
# libFuzzer options), FUZZ_WORK=DIR (where the corpora, logs and crash files go; default: a new /tmp/sg-fuzz.*).
# New inputs that found coverage stay in FUZZ_WORK: copy the ones worth keeping into fuzz/corpus/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=$(nproc 2>/dev/null || echo 2)

if ! make -j"$jobs" fuzz > /tmp/sg-fuzz-build.log 2>&1; then
  tail -30 /tmp/sg-fuzz-build.log
  echo "make fuzz failed (log: /tmp/sg-fuzz-build.log)"
  echo "0 passed, 1 failed"
  exit 1
fi

targets=${FUZZ_TARGETS:-$(for f in fuzz/fuzz_*.cpp; do basename "$f" .cpp; done)}
work=${FUZZ_WORK:-$(mktemp -d /tmp/sg-fuzz.XXXXXX)}
passed=0 failed=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
printf '%-18s %12s %9s %8s %8s  %s\n' target executions exec/s cov ft result
for t in $targets; do
  dir=$work/$t
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null
  dict=()
  [ -f fuzz/dict/"$t".dict ] && dict=(-dict=fuzz/dict/"$t".dict)
  # shellcheck disable=SC2086
  build-fuzz/"$t" "$dir/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/crashes/" -print_final_stats=1 ${FUZZ_ARGS:-} > "$dir/log" 2>&1
  status=$?
  execs=$(grep -E '^stat::number_of_executed_units:' "$dir/log" | awk '{print $2}')
  rate=$(grep -E '^stat::average_exec_per_sec:' "$dir/log" | awk '{print $2}')
  last=$(grep -E ' cov: [0-9]+ ft: [0-9]+' "$dir/log" | tail -1)
  cov=$(echo "$last" | sed -E 's/.* cov: ([0-9]+).*/\1/')
  ft=$(echo "$last" | sed -E 's/.* ft: ([0-9]+).*/\1/')
  # libFuzzer saves crash-, leak-, timeout- and oom- inputs (failures) and slow-unit- inputs (an input that took 10 s
  # or more, usually on a loaded machine: reported, not a failure; a hang is a timeout, -timeout=10).
  crashes=$(find "$dir/crashes" -type f ! -name 'slow-unit-*' | sort)
  slow=$(find "$dir/crashes" -type f -name 'slow-unit-*' | sort)
  if [ "$status" -eq 0 ] && [ -z "$crashes" ]; then
    result=ok; passed=$((passed + 1))
  else
    result=FAILED; failed=$((failed + 1))
  fi
  printf '%-18s %12s %9s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
  for c in $slow; do echo "  slow input (not a failure; time it: build-fuzz/$t $c)"; done
  if [ "$result" = FAILED ]; then
    echo "  exit status $status; log: $dir/log"
    for c in $crashes; do echo "  saved input: $c (reproduce: build-fuzz/$t $c)"; done
    # The report: from the sanitizer's or libFuzzer's first line to the end of the stack.
    sed -n -E '/^==[0-9]+==(ERROR|WARNING)|runtime error:|^fuzz: property failed|ERROR: libFuzzer/,/^(SUMMARY|MS:)/p' \
      "$dir/log" | head -40 | cut -c1-240 | sed 's/^/  | /'
  fi
done
echo "work folder: $work"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
