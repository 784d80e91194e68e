#!/usr/bin/env bash
# bench_loss_memory.sh: the loss's memory per rank against the global batch B and the ranks D (README "More than
# one device"). Each cell is one `mpirun -np D build/dist_check memory LOSS B DIM` (tests/mpi/dist_check.cpp):
# forward + backward of the loss alone on embeddings of width DIM (f32), one thread per rank, the host allocator's
# peak above the inputs, the largest over the ranks. D = 1 is also measured with one process's loss,
# sigmoid_loss_fused (tiled: what `train` uses alone).
#   scripts/bench_loss_memory.sh                       B = 4096 16384, D = 1 2 4, DIM 256
#   BATCHES="1024" RANKS="1 2" DIM=64 scripts/bench_loss_memory.sh
#   SOFTMAX_MAX_B=4096: the softmax all-gather holds about ten [B/D, B] f32 blocks per rank (10.7 GB summed over the
#   ranks at B = 16384), so it runs only up to this B; larger cells print "not run".
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DIST_CHECK:-build/dist_check}
batches=${BATCHES:-"4096 16384"}
ranks=${RANKS:-"1 2 4"}
dim=${DIM:-256}
softmax_max=${SOFTMAX_MAX_B:-4096}
mpirun="env OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe"

field() { sed -E "s/.* $1 ([0-9.]+).*/\1/"; }
cell() {  # loss B D -> "peak MB (s)"
  local line
  line=$($mpirun -np "$3" "$bin" memory "$1" "$2" "$dim" | grep '^memory')
  echo "$(echo "$line" | field peak_mb_max) ($(echo "$line" | field seconds) s)"
}

echo "| B | D | B x B f32 (MB) | sigmoid ring, peak per rank MB (s) | softmax all-gather, peak per rank MB (s) | one process: fused sigmoid MB (s) |"
echo "|---|---|---|---|---|---|"
for B in $batches; do
  bxb=$(awk -v b="$B" 'BEGIN { printf "%.0f", b * b * 4 / 1e6 }')
  for D in $ranks; do
    ring="not run"; soft="not run"; fused=""
    # The ring at D = 1 computes one [B, B] block (about 4 blocks alive in backward): run while B x B <= 256 MB.
    if [ "$D" -gt 1 ] || [ "$B" -le 8192 ]; then ring=$(cell sigmoid "$B" "$D"); fi
    if [ "$B" -le "$softmax_max" ]; then soft=$(cell softmax "$B" "$D"); fi
    if [ "$D" -eq 1 ]; then fused=$(cell fused "$B" 1); fi
    echo "| $B | $D | $bxb | $ring | $soft | $fused |"
  done
done
