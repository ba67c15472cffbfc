#!/usr/bin/env bash
# Sourced by the tools/cuda-*.sh scripts on a GPU machine: puts the CUDA 13 libraries that
# dist/cuda/tsumugi opens with dlopen (cuBLAS, NVRTC and its builtins) on LD_LIBRARY_PATH. They
# come with PyTorch's nvidia wheels (site-packages/nvidia/cu13/lib); `nvidia` is a namespace
# package, so its folder is read from __path__ (it has no __file__). A toolkit under
# /usr/local/cuda is added after them when there is one.
nv=$(python3 -c "import nvidia; print(list(nvidia.__path__)[0])" 2>/dev/null || true)
libs=""
if [ -n "$nv" ]; then
    libs=$(find "$nv" -maxdepth 3 -type d -name lib | tr '\n' ':')
fi
for dir in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
    [ -d "$dir" ] && libs="$libs$dir:"
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:-}"
