#!/usr/bin/env bash
# first-losses.sh BIN N OUT: runs `make run`'s training (scripts/run-default.sh) with BIN until N steps are in
# its metrics, stops it, and writes step, loss, t, b and grad_norm of those N steps to OUT, one step a line.
# Two builds print the same losses bit for bit when their OUT files are identical (`cmp A B`).
set -euo pipefail
bin=$1 n=$2 out=$3
dir=$(mktemp -d)
SG_RUN_OUT="$dir" scripts/run-default.sh "$bin" > "$dir/log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null && [ "$(cat "$dir/metrics.jsonl" 2>/dev/null | wc -l)" -lt "$n" ]; do sleep 1; done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# keep only the fields that must not change (step_s is a timing)
head -n "$n" "$dir/metrics.jsonl" | grep -o -E '"(step|loss|t|b|grad_norm|logit_std)":[^,}]*' | paste -d' ' - - - - - - > "$out"
[ "$(wc -l < "$out")" -eq "$n" ] || { echo "first-losses: only $(wc -l < "$out") steps"; cat "$dir/log"; exit 1; }
rm -rf "$dir"
echo "first-losses: $n steps of $bin in $out"
