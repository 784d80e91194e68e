#!/usr/bin/env bash
# bench-cpu.sh: ours against PyTorch on the CPU, in one run: tiny and small training steps in f32, ours in bf16,
# peak RSS and tensor memory, image-tower inference images/s; one table at the end (scripts/bench_cpu.py says
# what each row measures).
#   scripts/bench-cpu.sh                                  builds build/siglip, makes .venv if missing, runs
#   scripts/bench-cpu.sh --siglip build-cpu/siglip --steps 3 --rounds 1 --markdown /tmp/cpu.md
#   SIGLIP=build-cpu/siglip scripts/bench-cpu.sh --torch-bf16
# Options (after --siglip BIN, all passed to bench_cpu.py; --help lists them): --rounds R (2), --steps N (3),
# --warmup W (1), --images N (10000), --small-images N (1280), --threads T (the CPUs), --no-small, --torch-bf16,
# --ghz X, --markdown FILE, --work DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
siglip=${SIGLIP:-}
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --siglip) [ $# -ge 2 ] || { echo "bench-cpu: --siglip needs a value" >&2; exit 2; }; siglip=$2; shift 2 ;;
    --siglip=*) siglip=${1#--siglip=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$siglip" ]; then
  make -j"$(nproc)" build/siglip >&2
  siglip=build/siglip
fi
[ -x "$siglip" ] || { echo "bench-cpu: $siglip is not an executable" >&2; exit 2; }
if ! .venv/bin/python -c "import torch, transformers" 2>/dev/null; then
  scripts/install-deps.sh --oracles >&2
fi
exec .venv/bin/python scripts/bench_cpu.py --siglip "$siglip" ${args[@]+"${args[@]}"}
