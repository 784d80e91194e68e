#!/usr/bin/env bash
# gpu-check.sh: everything that needs a GPU, in one run of a few minutes, ending with a short table.
# On this machine first: scripts/gpu-prepare.sh (builds build-gpu/ for sm_90, packs .carry/).
# On the GPU machine (device tool): carry [build-gpu, .carry], run `bash scripts/gpu-check.sh`.
# Logs go to $OUT (or /tmp/gpu-check) as well.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out" /tmp/sglib
[ -f .carry/libs.tar.xz ] && tar -C /tmp/sglib -xJf .carry/libs.tar.xz
cublas_dir=$(dirname "$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=/tmp/sglib:/usr/local/cuda/lib64:${cublas_dir:-.}:${LD_LIBRARY_PATH:-}
export SG_FASHION_MNIST_DIR=$PWD/.carry/fashion-mnist
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
bin=build-gpu
declare -a rows

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi")
echo "GPU: $gpu"; date -u
ldd $bin/siglip | grep -E "not found" && { echo "missing shared libraries"; exit 1; }

run() {  # name, timeout seconds, command...: runs with a time limit, logs to $out/name.log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "--- $name: exit $rc, $((SECONDS - t0)) s"; tail -5 "$out/$name.log"
  return $rc
}

run tests 150 $bin/tests -d
rows+=("tests (all, CUDA parity incl.) | $(grep -E '^\[doctest\] test cases' $out/tests.log | tail -1 | sed 's/\[doctest\] //')")
grep -E 'cuda|CUDA' $out/tests.log | grep -E '^[0-9.]+ s' | head -10

run fmnist_train 120 $bin/siglip train --device cuda --data fashion-mnist --config tiny --steps 200 --batch 256 --positives label \
  --lr 1e-3 --log-every 50 --eval-limit 10000 --out /tmp/fmnist-gpu
rows+=("fashion-mnist 200 steps, tiny, B=256 | $(grep -E 'trained|zero-shot' $out/fmnist_train.log | tr '\n' ' ')")

for cfg in tiny; do
  run "step_${cfg}" 60 $bin/siglip train --device cuda --data shapes:4096:64 --config $cfg --steps 30 --batch 256 \
    --log-every 10 --no-eval --out /tmp/step-$cfg
  rows+=("ours $cfg B=256 f32 step | $(grep -E 'trained' $out/step_${cfg}.log)")
  if python3 -c "import torch" 2>/dev/null; then
    run "torch_${cfg}" 90 python3 scripts/torch_reference.py bench --config $cfg --batch 256 --steps 20 --dtype f32 --device cuda
    rows+=("pytorch $cfg B=256 f32 | $(tail -1 $out/torch_${cfg}.log)")
  fi
done
if [ -d /tmp/fmnist-gpu ] && python3 -c "import transformers" 2>/dev/null; then
  run interop_inputs 60 python3 scripts/torch_reference.py make-inputs --checkpoint /tmp/fmnist-gpu \
    --out /tmp/fmnist-gpu/interop.safetensors --siglip $bin/siglip
  run interop 60 python3 scripts/torch_reference.py check --checkpoint /tmp/fmnist-gpu --inputs /tmp/fmnist-gpu/interop.safetensors
  rows+=("HF transformers interop | $(tail -1 $out/interop.log)")
fi

echo
echo "=== gpu-check summary ($gpu) ==="
for r in "${rows[@]}"; do echo "$r"; done
