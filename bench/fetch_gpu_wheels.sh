#!/usr/bin/env bash
# Download the wheels of bench/gpu_wheels.txt into .whl/ (git-ignored) for the GPU machine:
# CPython 3.12, manylinux x86_64, no dependencies (the list names each one the image lacks).
#   bash bench/fetch_gpu_wheels.sh        # then: du -sh .whl  (must stay well under 64 MiB with the tree)
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-python3 -m pip}
mkdir -p .whl
grep -v '^#' bench/gpu_wheels.txt | grep . | xargs $PIP download --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl
du -sh .whl
