#!/usr/bin/env bash
# Runs on a GPU machine, from the repository root, with dist/cuda/tsumugi built by
# tools/cuda-build.sh and a python3 that has PyTorch with CUDA and transformers: LUKE on the card.
# First `device --check` (every backend operation against its reference, the transformer ones
# among them), then LUKE's hidden states on the card against the CPU's on every fixture
# (tools/cuda-luke-parity.py), then `bench luke --device cuda`: a LUKE-base forward at batch 1
# and 32, sequence 128, against transformers on the same card, fp32 without TF32 on both sides,
# each side copying its last hidden states to the host; then `bench qa --case features --device
# cuda`, the CNN-on-LUKE article's loop for one question on the card against transformers.
# Everything it prints is also written to $1 (default cuda-luke.log).
set -uo pipefail
log=${1:-cuda-luke.log}
source "$(dirname "$0")/cuda-env.sh"
bin=dist/cuda/tsumugi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
    # Each step has its own limit, so one that hangs leaves the device time to the rest.
    timeout 120 $bin device --check
    timeout 90 python3 "$(dirname "$0")/cuda-luke-parity.py" $bin
    timeout 180 $bin bench luke --device cuda --batches 1,32 --seq 128 --repeats 10 --python python3
    timeout 120 $bin bench qa --case features --device cuda --repeats 10 --python python3
} 2>&1 | tee "$log"
