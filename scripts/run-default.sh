#!/usr/bin/env bash
# `make run`: train a small SigLIP on the embedded "shapes" data and print its zero-shot accuracy.
# Runs in a few minutes on 2 CPU cores. Output: runs/default (checkpoint, metrics.jsonl, train.png), or the
# folder in SG_RUN_OUT. Further arguments go to `siglip train`.
set -euo pipefail
bin=${1:-build/siglip}
exec "$bin" train --data shapes --config micro --image-size 32 --patch-size 8 --steps 2000 --batch 256 --lr 2e-3 --log-every 100 \
  --out "${SG_RUN_OUT:-runs/default}" "${@:2}"
