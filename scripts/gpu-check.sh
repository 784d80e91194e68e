#!/usr/bin/env bash
# gpu-check.sh: everything that needs a GPU, in one run of at most ~8 minutes, ending with a short table.
# On this machine first: scripts/gpu-prepare.sh (builds build-gpu/ for sm_90, packs it, the libraries and
# Fashion-MNIST into .carry/). On the GPU machine (device tool): carry [.carry], run `bash scripts/gpu-check.sh`.
# Logs: one file per row in /tmp/gpu-check, packed at the end into $OUT/gpu-check-logs.tar.gz (the device tool
# returns at most 8 files), with the summary in $OUT/summary.txt.
#
# Rows, most important first; each runs under its own time limit and under the whole run's budget
# (GPU_CHECK_BUDGET seconds, default 450): a row that would start with less than 20 s left is skipped. A failed
# row does not stop the others. Step times: ours = median of the trainer's per-step wall time (metrics.jsonl
# step_s) after the first steps; PyTorch = scripts/torch_reference.py bench (same model, same batch, same
# AdamW; bf16 = autocast with f32 master weights). MFU = model FLOPs per step (torch_reference.py model_flops,
# matmul work only) / step time / the card's bf16 cuBLAS peak measured by `siglip bench kernels` in this run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=/tmp/gpu-check
mkdir -p "$out" /tmp/sglib
[ -f .carry/libs.tar.xz ] && tar -C /tmp/sglib -xJf .carry/libs.tar.xz
# The packed binaries win over a build-gpu/ left on a warm machine by an earlier call (it may be stale).
[ -f .carry/build-gpu.tar.xz ] && tar -xJf .carry/build-gpu.tar.xz
cublas_dir=$(dirname "$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=/tmp/sglib:/usr/local/cuda/lib64:${cublas_dir:-.}:${LD_LIBRARY_PATH:-}
export SG_FASHION_MNIST_DIR=$PWD/.carry/fashion-mnist
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
bin=build-gpu
budget=${GPU_CHECK_BUDGET:-450}
t_start=$SECONDS
declare -a rows
have_python=0; command -v python3 >/dev/null && have_python=1
have_torch=0; [ $have_python = 1 ] && python3 -c "import torch" 2>/dev/null && have_torch=1

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi")
echo "GPU: $gpu"; date -u
ldd $bin/siglip | grep -E "not found" && { echo "missing shared libraries"; exit 1; }

# run NAME LIMIT CMD...: runs CMD with min(LIMIT, budget left) seconds, output to $out/NAME.log; prints the exit
# status and the log's last lines. Exit 124/137: timed out; 125: skipped (budget spent).
run() {
  local name=$1 limit=$2; shift 2
  local left=$((budget - (SECONDS - t_start)))
  if [ "$left" -lt 20 ]; then
    echo "--- $name: skipped, budget of ${budget} s spent" | tee "$out/$name.log"
    return 125
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "--- $name: exit $rc, $((SECONDS - t0)) s (limit $limit s)"; tail -5 "$out/$name.log"
  return $rc
}

# median_step_ms METRICS_JSONL SKIP: median of the trainer's step_s after the first SKIP steps, in ms ("n/a" if none).
median_step_ms() {
  local f=$1 skip=$2
  [ -f "$f" ] || { echo "n/a"; return; }
  grep -o '"step_s":[-0-9.eE+]*' "$f" | cut -d: -f2 | tail -n +$((skip + 1)) | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else printf "%.1f\n", 1000 * (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

# timed_steps METRICS_JSONL SKIP: how many steps median_step_ms takes the median of.
timed_steps() {
  [ -f "$1" ] || { echo 0; return; }
  grep -o '"step_s":' "$1" | tail -n +$(($2 + 1)) | wc -l
}

# torch_ms LOG: median_ms of the JSON line of torch_reference.py bench ("n/a", or "oom" on CUDA out-of-memory).
torch_ms() {
  local f=$1
  grep -q '"error": "cuda_oom"' "$f" 2>/dev/null && { echo "oom"; return; }
  local v
  v=$(grep -o '"median_ms": [0-9.eE+-]*' "$f" 2>/dev/null | tail -1 | awk '{print $2}')
  echo "${v:-n/a}"
}

# train_step CFG PRECISION STEPS SKIP LIMIT [EXTRA ARGS...]: our trainer on synthetic shapes at the config's image
# size (b16: 224 px), B=256, no evaluation; records the median step time in step_ms[CFG_PRECISION]. b16 rows
# pass --vocab 32000: the token table gets B/16's 32000 rows although the shapes captions use about 30 words.
declare -A step_ms torch_step_ms
train_step() {
  local cfg=$1 prec=$2 steps=$3 skip=$4 limit=$5; shift 5
  local dir=/tmp/step-$cfg-$prec
  rm -rf "$dir"
  run "ours_${cfg}_${prec}" "$limit" $bin/siglip train --device cuda --data shapes:512:16 --config "$cfg" --steps "$steps" \
    --batch 256 --precision "$prec" --log-every 5 --no-eval --out "$dir" "$@"
  local rc=$?
  step_ms[${cfg}_$prec]=$(median_step_ms "$dir/metrics.jsonl" "$skip")
  rows+=("ours $cfg B=256 $prec | exit $rc, median ${step_ms[${cfg}_$prec]} ms/step over $(timed_steps "$dir/metrics.jsonl" "$skip") steps after the first $skip | $(grep -E '^trained' "$out/ours_${cfg}_${prec}.log" | cut -c1-80)")
}

# torch_step CFG PRECISION STEPS WARMUP LIMIT: torch_reference.py bench; records torch_step_ms[CFG_PRECISION].
torch_step() {
  local cfg=$1 prec=$2 steps=$3 warmup=$4 limit=$5
  if [ $have_torch = 0 ]; then
    torch_step_ms[${cfg}_$prec]="n/a"; rows+=("pytorch $cfg B=256 $prec | skipped: python3 has no torch"); return
  fi
  run "torch_${cfg}_${prec}" "$limit" python3 scripts/torch_reference.py bench --config "$cfg" --batch 256 \
    --steps "$steps" --warmup "$warmup" --dtype "$prec" --device cuda
  local rc=$?
  torch_step_ms[${cfg}_$prec]=$(torch_ms "$out/torch_${cfg}_${prec}.log")
  rows+=("pytorch $cfg B=256 $prec | exit $rc, median ${torch_step_ms[${cfg}_$prec]} ms/step | $(grep -E '^pytorch ' "$out/torch_${cfg}_${prec}.log" | tail -1 | cut -c1-150)")
}

# ---- 1. the test suite (CPU/CUDA parity of every op, whole model, multi-tensor AdamW, ...)
run tests 150 $bin/tests -d
rows+=("tests (all, CUDA parity incl.) | $(grep -E '^\[doctest\] test cases' $out/tests.log | tail -1 | sed 's/\[doctest\] //')")
grep -E 'cuda|CUDA|optim' $out/tests.log | grep -E '^[0-9.]+ s' | head -12

# ---- 2. kernel benchmarks with the card's ceilings (copy GB/s, cuBLAS bf16 / f32 TFLOP/s)
run bench_kernels 120 $bin/siglip bench kernels --device cuda --reps 10
cat "$out/bench_kernels.log"
bf16_peak=$(awk '/^ceiling +cublas bf16 gemm/ {for (i = 1; i <= NF; i++) if ($i == "TFLOP/s") print $(i - 1)}' "$out/bench_kernels.log" | head -1)
rows+=("bench kernels: bf16 cuBLAS peak | ${bf16_peak:-n/a} TFLOP/s (see the ceiling/kernel lines below)")

# ---- 3. step time, B=256: tiny (32 px) and SigLIP-B/16 shapes (224 px), f32 and bf16, ours and PyTorch
train_step tiny f32 30 3 60
train_step tiny bf16 30 3 60
torch_step tiny f32 20 3 90
torch_step tiny bf16 20 3 90
train_step b16 f32 13 3 170 --lr 1e-4 --warmup 5 --vocab 32000
train_step b16 bf16 13 3 130 --lr 1e-4 --warmup 5 --vocab 32000
torch_step b16 f32 10 3 120
torch_step b16 bf16 10 3 90

# ---- 4. where our tiny f32 step goes: per-kernel profile (every kernel synchronised)
rm -rf /tmp/profile-tiny
run profile_tiny 60 $bin/siglip train --device cuda --data shapes:4096:64 --config tiny --steps 10 --batch 256 \
  --precision f32 --log-every 5 --no-eval --profile --out /tmp/profile-tiny
echo "profile table (tiny f32, B=256):"
sed -n '/^profile over/,/host work outside kernels/p' "$out/profile_tiny.log"
profile_top=$(grep -A8 -E '^kernel +device +calls/step' "$out/profile_tiny.log" | tail -n +2)
profile_split=$(grep -E 'host work outside kernels' "$out/profile_tiny.log" | tail -1)

# ---- 5. learning on Fashion-MNIST, then Hugging Face interop with the trained checkpoint
rm -rf /tmp/fmnist-gpu
run fmnist_train 120 $bin/siglip train --device cuda --data fashion-mnist --config tiny --steps 200 --batch 256 --positives label \
  --lr 1e-3 --log-every 50 --eval-limit 10000 --out /tmp/fmnist-gpu
rows+=("fashion-mnist 200 steps, tiny, B=256 | $(grep -E 'trained|zero-shot' $out/fmnist_train.log | tr '\n' ' ')")
if [ -f /tmp/fmnist-gpu/latest ] && [ $have_python = 1 ] && python3 -c "import transformers" 2>/dev/null; then
  run interop_inputs 60 python3 scripts/torch_reference.py make-inputs --checkpoint /tmp/fmnist-gpu \
    --out /tmp/fmnist-gpu/interop.safetensors --siglip $bin/siglip
  run interop 60 python3 scripts/torch_reference.py check --checkpoint /tmp/fmnist-gpu --inputs /tmp/fmnist-gpu/interop.safetensors
  rows+=("HF transformers interop | $(tail -1 $out/interop.log | cut -c1-200)")
else
  rows+=("HF transformers interop | skipped: no trained checkpoint or no transformers")
fi

# ---- 5b. data parallel on CUDA tensors under mpirun, 2 ranks: NCCL needs one GPU per rank, so on a card alone
# the ranks share it through MPI with host staging (--comm mpi), and --comm nccl runs only where there are two GPUs.
# The test suite's "dist: train --device cuda*" case (row 1) compares the two where both run.
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if command -v mpirun >/dev/null && ldd $bin/siglip | grep -q libmpi; then
  dp="train --device cuda --data shapes:512:16 --config tiny --steps 20 --batch 256 --log-every 10 --no-eval --threads 2"
  rm -rf /tmp/dp-mpi /tmp/dp-nccl
  run dp_mpi 90 env OMP_NUM_THREADS=2 mpirun --allow-run-as-root --oversubscribe -np 2 $bin/siglip $dp --comm mpi --out /tmp/dp-mpi
  rows+=("2 ranks, --comm mpi (host staging, $gpus GPU(s)), tiny B=256 | exit $?, median $(median_step_ms /tmp/dp-mpi/metrics.jsonl 3) ms/step | $(grep -E '^communication' "$out/dp_mpi.log" | cut -c1-120)")
  if [ "$gpus" -ge 2 ]; then
    run dp_nccl 90 env OMP_NUM_THREADS=2 mpirun --allow-run-as-root -np 2 $bin/siglip $dp --comm nccl --out /tmp/dp-nccl
    rows+=("2 ranks, --comm nccl (2 GPUs), tiny B=256 | exit $?, median $(median_step_ms /tmp/dp-nccl/metrics.jsonl 3) ms/step | $(grep -E '^communication' "$out/dp_nccl.log" | cut -c1-120)")
  else
    rows+=("2 ranks, --comm nccl | not run: NCCL needs one GPU per rank and this machine has $gpus")
  fi
else
  rows+=("data parallel under mpirun | skipped: no mpirun, or $bin/siglip built without MPI")
fi

# ---- 6. if time is left: the attention rows again with the CUDA-core kernel (SG_ATTN_TC=0), to see what the
# tensor-core path (bf16, cuda/attention_tc.cu) gains
run bench_kernels_no_tc 60 env SG_ATTN_TC=0 $bin/siglip bench kernels --device cuda --reps 5 &&
  rows+=("bench kernels, SG_ATTN_TC=0 (CUDA-core attention) | see the attention lines below")

# ---- summary
b16_flops=n/a; tiny_flops=n/a
if [ $have_python = 1 ]; then
  flops_of() { python3 -c "import sys; sys.path.insert(0, 'scripts'); import torch_reference as t; print(t.model_flops(t._preset('$1'), 256)[0])" 2>/dev/null || echo n/a; }
  b16_flops=$(flops_of b16); tiny_flops=$(flops_of tiny)
fi
# MFU against the bf16 peak measured above; the nominal 800 TFLOP/s of these H100s if that row failed.
peak_note="measured"
[ -z "${bf16_peak:-}" ] && { bf16_peak=800; peak_note="NOT measured (bench kernels failed): nominal"; }
# mfu MS FLOPS: percent of the bf16 peak, or n/a
mfu() {
  awk -v ms="$1" -v f="$2" -v p="$bf16_peak" 'BEGIN {
    if (ms + 0 > 0 && f + 0 > 0 && p + 0 > 0) printf "%.1f%%", 100 * f / (ms / 1000) / (p * 1e12); else printf "n/a" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else printf "n/a" }'; }

pack_logs() { [ -n "${OUT:-}" ] && tar -C "$out" -czf "$OUT/gpu-check-logs.tar.gz" . ; }
trap pack_logs EXIT
{
echo
echo "=== gpu-check summary ($gpu), $((SECONDS - t_start)) s ==="
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "step time, B=256 (ms/step; MFU = model FLOPs / time / bf16 peak, $peak_note $bf16_peak TFLOP/s)"
printf "%-6s %-5s %12s %12s %13s %10s %10s\n" config prec ours pytorch ours/pytorch "ours MFU" "pt MFU"
for cfg in tiny b16; do
  flops=$tiny_flops; [ $cfg = b16 ] && flops=$b16_flops
  for prec in f32 bf16; do
    o=${step_ms[${cfg}_$prec]:-n/a}; p=${torch_step_ms[${cfg}_$prec]:-n/a}
    printf "%-6s %-5s %12s %12s %13s %10s %10s\n" $cfg $prec "$o" "$p" "$(ratio "$o" "$p")" "$(mfu "$o" "$flops")" "$(mfu "$p" "$flops")"
  done
done
echo "model FLOPs per step: tiny $tiny_flops, b16 $b16_flops"
echo
echo "kernels vs ceilings (siglip bench kernels):"
grep -E '^(ceiling|kernel|skipped) ' "$out/bench_kernels.log" 2>/dev/null || echo "(no bench kernels output)"
echo
if [ -s "$out/bench_kernels_no_tc.log" ]; then
  echo "attention with SG_ATTN_TC=0 (CUDA cores for bf16 too):"
  grep -E '^kernel +attention' "$out/bench_kernels_no_tc.log" || echo "(no attention rows)"
  echo
fi
echo "profile, tiny f32 B=256, top 8 kernels (ms/step with every kernel synchronised):"
echo "${profile_top:-(no profile table)}"
echo "${profile_split:-}"
} | tee "${OUT:-/tmp}/summary.txt"
