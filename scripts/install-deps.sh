#!/usr/bin/env bash
# Installs the Debian packages the build, the tests, `make run` and `make fuzz` (clang, libFuzzer's runtime
# libclang_rt.fuzzer from libclang-rt-dev, OpenMP for clang from libomp-dev) and the
# data-parallel trainer (Open MPI: libopenmpi-dev, and mpirun from openmpi-bin) need.
# Idempotent: installs only what is missing, and runs `apt-get update` only then.
# --oracles also makes .venv/ (PyPI: torch, transformers, safetensors, sentencepiece, protobuf, numpy, pillow), the test oracles
# that the parity tests compare against when it is present. Nothing in the product uses Python.
set -euo pipefail
cd "$(dirname "$0")/.."
oracles=0
[ "${1:-}" = "--oracles" ] && oracles=1
packages=(
  g++ make pkg-config
  libopenblas-dev libdnnl-dev
  doctest-dev libfmt-dev nlohmann-json3-dev libcli11-dev libstb-dev libturbojpeg0-dev zlib1g-dev libsentencepiece-dev
  libarchive-dev
  dataset-fashion-mnist
  clang libclang-rt-dev libomp-dev
  libopenmpi-dev openmpi-bin
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "$oracles" -eq 1 ] || exit 0
oracle_packages=(torch transformers safetensors sentencepiece protobuf numpy pillow)
if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, transformers, safetensors, sentencepiece, google.protobuf, numpy, PIL" 2>/dev/null; then
  echo "install-deps: .venv has ${oracle_packages[*]}"
  exit 0
fi
echo "install-deps: making .venv with ${oracle_packages[*]} from PyPI (about 5.6 GB, a few minutes)"
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "${oracle_packages[@]}"
.venv/bin/python -c "import torch, transformers; print('install-deps: .venv: torch', torch.__version__, 'transformers', transformers.__version__)"
