#!/usr/bin/env bash
# Runs on a GPU machine, from the repository root, with dist/cuda/tsumugi built by
# tools/cuda-build.sh and a python3 that has PyTorch with CUDA: the device check (cuBLAS against
# the CPU, every backend operation against its reference, an LM step against the CPU's), then
# `bench lstm --device cuda` against PyTorch's nn.LSTM (cuDNN) on the same card at B 20 and
# B 128, plain fp32 on both sides, `bench classify --device cuda` (problem 78: the classifiers'
# epochs, PyTorch on the same card) and `bench qa --case cnn --device cuda` (the CNN-on-LUKE
# article's CNN epoch against PyTorch's, cuDNN's convolutions, on the card). Everything it prints is also written to $1
# (default cuda-measure.log).
set -uo pipefail
log=${1:-cuda-measure.log}
source "$(dirname "$0")/cuda-env.sh"
bin=dist/cuda/tsumugi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
    $bin device
    # Each step has its own limit, so one that hangs leaves the device time to the rest.
    timeout 120 $bin device --check
    for batch in 20 128; do
        timeout 120 $bin bench lstm --device cuda --batch "$batch" --repeats 20 --python python3
    done
    timeout 120 $bin bench classify --device cuda --repeats 5 --python python3
    timeout 120 $bin bench qa --case cnn --device cuda --repeats 3 --python python3
} 2>&1 | tee "$log"
