#!/usr/bin/env bash
# Prepares, on this (GPU-less) machine, what scripts/gpu-check.sh needs on a GPU machine that has no Debian
# packages and no network: a CUDA build for sm_90 (portable x86-64-v3 host code) in build-gpu/, and in .carry/
# the shared libraries our binaries link (oneDNN, OpenBLAS, fmt, stb, their runtime deps) and Fashion-MNIST.
# Then: device run with carry [.carry] (the binaries are packed in it), command `bash scripts/gpu-check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || { echo "gpu-prepare: nvcc not found"; exit 1; }
make -j"$(nproc)" BUILD=build-gpu ARCH=x86-64-v3 CUDA=1 build-gpu/siglip build-gpu/tests
strip --strip-debug build-gpu/siglip build-gpu/tests
rm -rf build-gpu/obj build-gpu/libsiglip.a
mkdir -p .carry
# The binaries travel xz-compressed inside .carry (about a third of their size): the device tool carries at
# most 64 MiB, and the stripped binaries plus libraries plus Fashion-MNIST come close to that uncompressed.
tar -cJf .carry/build-gpu.tar.xz build-gpu/siglip build-gpu/tests
if [ ! -f .carry/libs.tar.xz ]; then
  tmp=$(mktemp -d)
  for lib in libdnnl.so.2 libopenblas.so.0 libfmt.so.9 libstb.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
    cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')" "$tmp/"
  done
  tar -C "$tmp" -cJf .carry/libs.tar.xz .
  rm -rf "$tmp"
fi
mkdir -p .carry/fashion-mnist
cp -u /usr/share/datasets/fashion-mnist/*.gz .carry/fashion-mnist/
du -sh build-gpu .carry .carry/*
total_kb=$(du -sk .carry | cut -f1)
[ "$total_kb" -lt 60000 ] || echo "gpu-prepare: warning: .carry is ${total_kb} KB, close to the device tool's 64 MiB carry limit"
echo "device run: carry [.carry], command: bash scripts/gpu-check.sh"
