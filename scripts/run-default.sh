#!/usr/bin/env bash
# `make run`: train a small SigLIP on the embedded "shapes" data and print its zero-shot accuracy.
# Runs in a few minutes on 2 CPU cores. Output: runs/default (checkpoint, metrics.jsonl, train.png).
set -euo pipefail
bin=${1:-build/siglip}
exec "$bin" train --data shapes --config micro --steps 600 --batch 128 --lr 1e-3 --log-every 50 \
  --out runs/default "${@:2}"
