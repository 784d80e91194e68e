#!/usr/bin/env bash
# check-layers.sh: the project's includes point one way. Layers, bottom to top:
#   0 base/      vocabulary both backends share (dtype, error, kernel signatures, device runtime interface)
#   1 cpu/ cuda/ kernels and device runtimes; beside each other: neither includes the other
#   2 tensor core (tensor/*.h, tensor/*.cpp): Tensor, allocator, backends registration, dispatch, profile
#   3 autograd/  graph nodes and the backward pass
#   4 ops        tensor/ops/, tensor/ops.h, tensor/op_registry.*, autograd/gradcheck.* and autograd/trace.* (they
#                replay and differentiate ops)
#   5 nn/        modules, optimisers, safetensors
#   6 dist/      communicators between processes (MPI, NCCL; one process alone), the distributed losses, gradient buckets
#   7 siglip/    the model, data, trainer, command line
# A file may include headers of its own layer or of layers below. tests/ and cuda/check/ (tools that compare
# the backends) sit above everything and are not checked. Exceptions and their reasons: docs/design-notes.md.
# Prints every violation as FILE:LINE: includes HEADER (layer A -> layer B); exit status 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."

layer_of() {  # path -> "rank name", or nothing for unchecked files
  case "$1" in
    base/*) echo "0 base" ;;
    cpu/*) echo "1 cpu" ;;
    cuda/check/*) ;;
    cuda/*) echo "1 cuda" ;;
    tensor/ops/* | tensor/ops.h | tensor/op_registry.*) echo "4 ops" ;;
    autograd/gradcheck.* | autograd/trace.*) echo "4 ops" ;;
    tensor/*) echo "2 tensor-core" ;;
    autograd/*) echo "3 autograd" ;;
    nn/*) echo "5 nn" ;;
    dist/*) echo "6 dist" ;;
    siglip/*) echo "7 siglip" ;;
  esac
}

violations=0 checked=0
while IFS= read -r file; do
  from=$(layer_of "$file")
  [ -n "$from" ] || continue
  checked=$((checked + 1))
  while IFS=: read -r line header; do
    to=$(layer_of "$header")
    [ -n "$to" ] || continue
    if [ "${to%% *}" -gt "${from%% *}" ] || { [ "${from%% *}" = 1 ] && [ "$from" != "$to" ] && [ "${to%% *}" = 1 ]; }; then
      echo "$file:$line: includes $header (${from#* } -> ${to#* })"
      violations=$((violations + 1))
    fi
  done < <(grep -n -E '^\s*#\s*include\s+"' "$file" | sed -E 's/^([0-9]+):\s*#\s*include\s+"([^"]+)".*/\1:\2/')
done < <(git ls-files -co --exclude-standard -- '*.h' '*.cpp' '*.cu' '*.cuh' '*.inc')

echo "check-layers: $checked files, $violations includes against the layer order"
[ "$violations" -eq 0 ]
