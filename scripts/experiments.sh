#!/usr/bin/env bash
# experiments.sh: the loss and positives comparisons reported in docs/results.md, reproducibly.
#   scripts/experiments.sh losses     sigmoid vs softmax at batch 32, 64, 256 on the same step budget
#   scripts/experiments.sh positives  diagonal vs caption vs label positives (Fashion-MNIST)
#   scripts/experiments.sh bias       the paper's b = -10 against the auto bias at batch 256
# Each run: micro config, 32 px Fashion-MNIST, evaluation on the first 2,000 test images. Prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SIGLIP:-build/siglip}
steps=${STEPS:-200}
what=${1:-losses}
root=runs/experiments
mkdir -p $root

one() {  # name, extra args...: trains, then prints "name | final loss | zero-shot | i2t R@1 | s/step"
  local name=$1; shift
  $bin train --data fashion-mnist --config micro --image-size 32 --steps "$steps" --lr 2e-3 --log-every 100000 \
    --eval-limit 2000 --out $root/$name "$@" > $root/$name.log 2>&1
  local loss acc r1 sps collapse
  loss=$(grep -E '^step' $root/$name.log | tail -1 | sed -E 's/.*loss ([0-9.]+).*/\1/')
  acc=$(grep -E 'zero-shot class accuracy' $root/$name.log | sed -E 's/.*: ([0-9.]+%).*/\1/')
  r1=$(grep -E '^retrieval' $root/$name.log | sed -E 's/.*image->text R@1 ([0-9.]+%).*/\1/')
  sps=$(grep -E '^trained' $root/$name.log | sed -E 's/.*\(([0-9.]+) s\/step\).*/\1/')
  collapse=$(grep -c 'warning: collapse' $root/$name.log || true)
  printf "| %-28s | %8s | %9s | %8s | %7s | %s |\n" "$name" "$loss" "$acc" "$r1" "$sps" "$([ "$collapse" -gt 0 ] && echo collapse || echo -)"
}

printf "| %-28s | %8s | %9s | %8s | %7s | %s |\n" run "loss" "zero-shot" "i2t R@1" "s/step" "collapse"
case $what in
  losses)
    for b in 32 64 256; do
      one "sigmoid-b$b" --batch $b --loss sigmoid
      one "softmax-b$b" --batch $b --loss softmax
    done ;;
  positives)
    for p in diagonal caption label; do one "positives-$p" --batch 128 --positives $p; done ;;
  bias)
    one "bias-paper-b256" --batch 256 --init-bias -10
    one "bias-auto-b256" --batch 256 --init-bias auto ;;
  *) echo "unknown experiment '$what' (losses, positives, bias)"; exit 2 ;;
esac
