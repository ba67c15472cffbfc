#!/usr/bin/env bash
# Builds tsumugi with the `cuda` feature into dist/cuda/tsumugi, ready to copy to a GPU machine.
#
# No CUDA toolkit is needed here: cudarc is pinned to the CUDA 13.0 API (`cuda-13000`, what the
# driver 580 series speaks) and opens libcuda / libcublas with dlopen at run time. On the GPU
# machine, put the CUDA 13 libraries on LD_LIBRARY_PATH (a PyTorch install carries them under
# site-packages/nvidia/cu13/lib), then run `dist/cuda/tsumugi device --check`.
#
# The build goes to target/cuda so the plain CPU build in target/ stays warm and unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --features cuda --target-dir target/cuda "$@"
mkdir -p dist/cuda
# Debug info is dropped (symbols stay) so the binary travels to the GPU machine in a third of the size.
strip --strip-debug -o dist/cuda/tsumugi.tmp target/cuda/release/tsumugi
mv dist/cuda/tsumugi.tmp dist/cuda/tsumugi
echo "built dist/cuda/tsumugi ($(du -h dist/cuda/tsumugi | cut -f1)); check it with: dist/cuda/tsumugi device --check"
