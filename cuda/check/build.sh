#!/usr/bin/env bash
# Builds cuda/check/kernel_check into OUTDIR (default /tmp/kernel_check): the sg::cuda kernels against
# the sg::cpu ones, without oneDNN/OpenBLAS, portable x86-64 host code, libstdc++ and cudart linked
# statically; needs libcublas.so.13 at run time (rpath: OUTDIR, /usr/local/cuda/lib64) and libfmt.so.9
# (copied next to the binary). Run from the repository root: cuda/check/build.sh [OUTDIR]
set -euo pipefail
OUT=${1:-/tmp/kernel_check}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
mkdir -p "$OUT/obj"
CXXF="-std=c++20 -O2 -march=x86-64-v2 -Wall -Wextra -Wno-unknown-pragmas -Wno-stringop-overflow -I."
NVF="-std=c++20 -O3 -gencode=arch=compute_90,code=sm_90 -I. -DSG_CUDA --expt-relaxed-constexpr -Xcompiler -Wall,-Wno-unknown-pragmas"
objs=()
for f in cpu/runtime cpu/copy cpu/bf16_convert cpu/elementwise cpu/reduce cpu/softmax cpu/norm cpu/attention cpu/conv cpu/index cpu/optim; do
  [ -f "$f.cpp" ] || continue
  o="$OUT/obj/$(basename "$f").cpu.o"; g++ $CXXF -c "$f.cpp" -o "$o" & objs+=("$o")
done
for f in tensor/allocator tensor/backends; do
  o="$OUT/obj/$(basename "$f").o"; g++ $CXXF -DSG_CUDA -isystem "$CUDA_HOME/include" -c "$f.cpp" -o "$o" & objs+=("$o")
done
g++ $CXXF -DSG_CUDA -isystem "$CUDA_HOME/include" -c cuda/check/kernel_check.cpp -o "$OUT/obj/kernel_check.o" & objs+=("$OUT/obj/kernel_check.o")
wait
for f in cuda/*.cu; do
  o="$OUT/obj/$(basename "$f" .cu).cu.o"; "$NVCC" $NVF -c "$f" -o "$o" & objs+=("$o")
  while [ "$(jobs -r | wc -l)" -ge 2 ]; do sleep 0.2; done
done
wait
g++ -o "$OUT/kernel_check" "${objs[@]}" -L"$CUDA_HOME/lib64" -lcublas -lcudart_static -ldl -lrt -lpthread -lfmt \
  -static-libstdc++ -static-libgcc -Wl,-rpath,'$ORIGIN':"$CUDA_HOME/lib64"
for l in $(ldd "$OUT/kernel_check" | awk '/libfmt/ {print $3}'); do
  [ "$(dirname "$(readlink -f "$l")")" = "$(readlink -f "$OUT")" ] || cp -L "$l" "$OUT/"
done
echo "built $OUT/kernel_check"
