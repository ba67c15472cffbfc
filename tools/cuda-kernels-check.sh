#!/usr/bin/env bash
# Checks src/compute/cuda/kernels.cu for C++ syntax and type errors on a machine without CUDA:
# the kernels are compiled by NVRTC only at run time, on a GPU, so a typo would otherwise first
# show there. g++ reads the file with the CUDA built-ins stubbed (thread indices, shuffles,
# atomics); it checks no CUDA semantics, only that NVRTC will not stop at a syntax error. Then
# tools/cuda-kernels-emulate.cpp runs the barrier-free column reductions on the CPU, thread by
# emulated thread, against plain loops.
set -euo pipefail
stub=$(mktemp --suffix=.h)
bin=$(mktemp)
trap 'rm -f "$stub" "$bin"' EXIT
cat > "$stub" <<'STUB'
#include <math.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct D3 { unsigned x, y, z; };
static D3 blockIdx, blockDim, threadIdx, gridDim;
static inline void __syncthreads() {}
static inline float __int_as_float(int i) { float f; __builtin_memcpy(&f, &i, 4); return f; }
static inline unsigned atomicAdd(unsigned* a, unsigned v) { unsigned o = *a; *a += v; return o; }
static inline float __shfl_down_sync(unsigned, float v, int) { return v; }
static inline float __shfl_xor_sync(unsigned, float v, int) { return v; }
static inline double __shfl_xor_sync(unsigned, double v, int) { return v; }
STUB
g++ -fsyntax-only -x c++ -include "$stub" -Wno-unused "$(dirname "$0")/../src/compute/cuda/kernels.cu"
echo "kernels.cu: no syntax error"
g++ -O2 -x c++ -include "$stub" -Wno-unused -o "$bin" "$(dirname "$0")/cuda-kernels-emulate.cpp"
"$bin"
