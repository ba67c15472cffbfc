// tsumugi's CUDA kernels, compiled at run time by NVRTC (no nvcc at build time). Every matrix is
// row-major. Launch shapes are chosen in cuda/mod.rs, next to each call.
//
// The dropout mask repeats src/compute/mask.rs's integer arithmetic exactly (SplitMix64's
// finaliser over key + (i + 1)·φ, the top 24 bits as a uniform draw), so both devices draw the
// same masks.

typedef unsigned long long u64;
typedef unsigned int u32;

// NVRTC has no <math.h> constants
#define INF32 __int_as_float(0x7f800000)
#define NAN32 __int_as_float(0x7fffffff)

__device__ __forceinline__ u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024), in the type of `v`
// (float, or double for LayerNorm's statistics); every thread gets it.
template <typename T> __device__ T block_sum(T v, T* shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}

__device__ float block_max(float v, float* shared) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : -INF32;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}

// c[rows, n] = row[n] in every row
extern "C" __global__ void fill_rows(float* c, const float* row, u32 rows, u32 n) {
    u64 total = (u64)rows * n;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x)
        c[i] = row[i % n];
}

extern "C" __global__ void add_inplace(float* y, const float* x, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        y[i] += x[i];
}

extern "C" __global__ void mul_inplace(float* y, const float* x, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        y[i] *= x[i];
}

// The column reductions (column sums, batch-norm statistics and their gradient sums) run in two
// passes without atomics or barriers, so the sums are the same every run: column_partials sums
// each column over fixed chunks of rows, one thread per (chunk, column), and a finishing kernel
// adds a column's chunks in order. A single pass, one block of 32 columns over every row, left a
// convolution's 40,000 rows of 32 channels to one or two of the card's multiprocessors.
//
// part[k, cols] = Σ over rows [k·chunk, (k+1)·chunk) of the first value, and for what ≠ 0
// part[chunks + k, cols] of the second, in double:
//   what 0: x;  what 1: x and x²;  what 2: dy and dy·x̂, x̂ = (x − mean)·inv_std, saved = (mean, inv_std),
//   dy taken as 0 where relu_out ≤ 0 when relu_out is given (a ReLU after the normalisation)
extern "C" __global__ void column_partials(double* part, const float* x, const float* dy, const float* saved,
                                           const float* relu_out, u32 rows, u32 cols, u32 chunk, int what) {
    u32 chunks = (rows + chunk - 1) / chunk;
    u64 total = (u64)chunks * cols;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u32 col = (u32)(i % cols), k = (u32)(i / cols);
        u32 end = rows - k * chunk < chunk ? rows : k * chunk + chunk;
        double s = 0.0, q = 0.0;
        for (u32 r = k * chunk; r < end; r++) {
            u64 at = (u64)r * cols + col;
            double v = x[at];
            if (what == 0) {
                s += v;
            } else if (what == 1) {
                s += v;
                q += v * v;
            } else {
                double d = relu_out && relu_out[at] <= 0.0f ? 0.0 : dy[at];
                s += d;
                q += d * ((v - saved[col]) * saved[cols + col]);
            }
        }
        part[(u64)k * cols + col] = s;
        if (what != 0) part[((u64)chunks + k) * cols + col] = q;
    }
}

// Σ over chunks, in chunk order, of part[which·chunks + k, col]
__device__ double chunk_total(const double* part, u32 chunks, u32 cols, u32 col, u32 which) {
    double t = 0.0;
    for (u32 k = 0; k < chunks; k++) t += part[((u64)which * chunks + k) * cols + col];
    return t;
}

// sums[cols] (+)= the column sums of column_partials(what 0)
extern "C" __global__ void column_sums_finish(float* sums, const double* part, u32 chunks, u32 cols,
                                              int accumulate) {
    for (u32 col = blockIdx.x * blockDim.x + threadIdx.x; col < cols; col += gridDim.x * blockDim.x) {
        float t = (float)chunk_total(part, chunks, cols, col, 0);
        sums[col] = accumulate ? sums[col] + t : t;
    }
}

// partial[block] = Σ x² over the block's grid-stride share (blocks of 256); cuda/mod.rs adds the
// partials in block order, so the norm has the same bits every run
extern "C" __global__ void sum_of_squares(float* partial, const float* x, u64 n) {
    __shared__ float shared[32];
    float s = 0.0f;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        s += x[i] * x[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[i, :] = table[ids[i], :]
extern "C" __global__ void gather_rows(float* out, const float* table, const u32* ids, u32 rows, u32 width) {
    u64 total = (u64)rows * width;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x)
        out[i] = table[(u64)ids[i / width] * width + i % width];
}

// out[b, j] = max over t < lengths[b] of x[t·B + b, j]; argmax[b, j] its flat index in x (the first
// of equal values)
extern "C" __global__ void max_over_steps(float* out, u32* argmax, const float* x, const u32* lengths, u32 batch,
                                          u32 hidden) {
    u64 total = (u64)batch * hidden;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 b = i / hidden, j = i % hidden;
        u64 best = b * hidden + j;
        for (u64 t = 1; t < lengths[b]; t++) {
            u64 at = (t * batch + b) * hidden + j;
            if (x[at] > x[best]) best = at;
        }
        out[i] = x[best];
        argmax[i] = (u32)best;
    }
}

// 2x2 max pooling, stride 2, of n channels-last images [n*h*w, c]: out and argmax
// [n*(h/2)*(w/2), c], argmax the flat index in x of the first maximum in the order (0,0), (0,1),
// (1,0), (1,1)
extern "C" __global__ void max_pool2x2(float* out, u32* argmax, const float* x, u32 n, u32 h, u32 w, u32 c) {
    u64 ph = h / 2, pw = w / 2;
    u64 total = (u64)n * ph * pw * c;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 ch = i % c, q = i / c;
        u64 px = q % pw, py = (q / pw) % ph, image = q / (pw * ph);
        u64 r = (image * h + 2 * py) * w + 2 * px;
        u64 pixels[4] = {r, r + 1, r + w, r + w + 1};
        u64 best = r * c + ch;
        for (int t = 1; t < 4; t++) {
            u64 at = pixels[t] * c + ch;
            if (x[at] > x[best]) best = at;
        }
        out[i] = x[best];
        argmax[i] = (u32)best;
    }
}

// The backward of max_pool2x2, one thread per value of dx [n·h·w, c]: 0 + dy of its window where
// the window's argmax names it, else 0 (an odd last row or column too): the bits of a
// scatter-add into zeros, every value written once
extern "C" __global__ void max_pool2x2_backward(float* dx, const float* dy, const u32* argmax, u32 n, u32 h, u32 w,
                                                u32 c) {
    u64 ph = h / 2, pw = w / 2;
    u64 total = (u64)n * h * w * c;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 ch = i % c, pixel = i / c;
        u64 x = pixel % w, y = (pixel / w) % h, image = pixel / ((u64)w * h);
        float v = 0.0f;
        if (y < 2 * ph && x < 2 * pw) {
            u64 q = ((image * ph + y / 2) * pw + x / 2) * c + ch;
            if (argmax[q] == (u32)i) v = 0.0f + dy[q];
        }
        dx[i] = v;
    }
}

// Scatter-add by destination: table[ids[i], :] += src[i, :], each destination's rows added one
// after another in the order of i, as the CPU adds them, so the sums have the same bits on
// either device and every run. A counting sort groups the rows by destination (its integer
// atomics give the same counts and runs in any order; each run is then sorted by row):
//   scatter_count → scan_chunk_totals → scan_totals → scan_chunks → scatter_place →
//   scatter_sort_runs → scatter_add_runs.
// Ids at or past m (a table of m rows) are skipped.

// counts[ids[i]] += 1
extern "C" __global__ void scatter_count(u32* counts, const u32* ids, u32 n, u32 m) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (ids[i] < m) atomicAdd(&counts[ids[i]], 1u);
}

// totals[k] = Σ counts over chunk k (rows [k·chunk, (k+1)·chunk) of m), one thread per chunk
extern "C" __global__ void scan_chunk_totals(u32* totals, const u32* counts, u32 m, u32 chunk) {
    u32 chunks = (m + chunk - 1) / chunk;
    for (u32 k = blockIdx.x * blockDim.x + threadIdx.x; k < chunks; k += gridDim.x * blockDim.x) {
        u32 end = m - k * chunk < chunk ? m : k * chunk + chunk, t = 0;
        for (u32 j = k * chunk; j < end; j++) t += counts[j];
        totals[k] = t;
    }
}

// totals becomes its exclusive prefix sum; one thread
extern "C" __global__ void scan_totals(u32* totals, u32 chunks) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    u32 run = 0;
    for (u32 k = 0; k < chunks; k++) {
        u32 t = totals[k];
        totals[k] = run;
        run += t;
    }
}

// offsets[j] = Σ counts[0..j) for j ≤ m (offsets[m] = every counted row), one thread per chunk
extern "C" __global__ void scan_chunks(u32* offsets, const u32* counts, const u32* totals, u32 m, u32 chunk) {
    u32 chunks = (m + chunk - 1) / chunk;
    for (u32 k = blockIdx.x * blockDim.x + threadIdx.x; k < chunks; k += gridDim.x * blockDim.x) {
        u32 end = m - k * chunk < chunk ? m : k * chunk + chunk, run = totals[k];
        for (u32 j = k * chunk; j < end; j++) {
            offsets[j] = run;
            run += counts[j];
        }
        if (end == m) offsets[m] = run;
    }
}

// index[offsets[d] ..] gets the rows i with ids[i] = d, in whatever order the atomics give
extern "C" __global__ void scatter_place(u32* index, u32* cursor, const u32* offsets, const u32* ids, u32 n, u32 m) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        u32 d = ids[i];
        if (d < m) index[offsets[d] + atomicAdd(&cursor[d], 1u)] = i;
    }
}

// each destination's run of rows sorted ascending (insertion sort: runs are short, a
// convolution's at most k², a word's its occurrences in a batch); one thread per destination
extern "C" __global__ void scatter_sort_runs(u32* index, const u32* offsets, u32 m) {
    for (u32 d = blockIdx.x * blockDim.x + threadIdx.x; d < m; d += gridDim.x * blockDim.x) {
        u32 lo = offsets[d], hi = offsets[d + 1];
        for (u32 a = lo + 1; a < hi; a++) {
            u32 v = index[a], b = a;
            for (; b > lo && index[b - 1] > v; b--) index[b] = index[b - 1];
            index[b] = v;
        }
    }
}

// table[d, c] += src rows of d's run in order; one thread per (destination, column)
extern "C" __global__ void scatter_add_runs(float* table, const float* src, const u32* index, const u32* offsets, u32 m,
                                            u32 width) {
    u64 total = (u64)m * width;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u32 d = (u32)(i / width), col = (u32)(i % width);
        u32 lo = offsets[d], hi = offsets[d + 1];
        if (lo == hi) continue;
        float t = table[i];
        for (u32 k = lo; k < hi; k++) t += src[(u64)index[k] * width + col];
        table[i] = t;
    }
}

// mask[i] = 0 with probability p, else 1/(1-p); the draw is src/compute/mask.rs's `uniform` of
// draw number i (mode 0), i mod period (mode 1: locked dropout) or ids[i / width] (mode 2: a
// word's every occurrence)
extern "C" __global__ void dropout_mask(float* mask, u64 n, float p, float scale, u64 key, int mode, u64 period,
                                        const u32* ids, u64 width) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        u64 draw = mode == 0 ? i : mode == 1 ? i % period : (u64)ids[i / width];
        u64 z = mix64(key + (draw + 1) * 0x9E3779B97F4A7C15ULL);
        float u = (float)(z >> 40) * (1.0f / 16777216.0f);
        mask[i] = u >= p ? scale : 0.0f;
    }
}

// One block per row of logits [rows, v]: row_loss[row] = (logsumexp − logit[target]) / rows
// (cuda/mod.rs adds them in row order); with
// `grad`, the row becomes (softmax − onehot) / rows (its column sums are taken by column_sums).
extern "C" __global__ void softmax_xent(float* row_loss, float* logits, const u32* targets, u32 rows, u32 v,
                                        int grad) {
    __shared__ float shared[32];
    float* row = logits + (u64)blockIdx.x * v;
    u32 y = targets[blockIdx.x];
    // read before any thread may overwrite it with its gradient
    float target_logit = y < v ? row[y] : NAN32;
    float m = -INF32;
    for (u32 j = threadIdx.x; j < v; j += blockDim.x) m = fmaxf(m, row[j]);
    m = block_max(m, shared);
    float s = 0.0f;
    for (u32 j = threadIdx.x; j < v; j += blockDim.x) s += expf(row[j] - m);
    s = block_sum(s, shared);
    float inv_n = 1.0f / (float)rows;
    if (threadIdx.x == 0) row_loss[blockIdx.x] = (m + logf(s) - target_logit) * inv_n;
    if (grad) {
        float scale = inv_n / s;
        for (u32 j = threadIdx.x; j < v; j += blockDim.x)
            row[j] = expf(row[j] - m) * scale - (j == y ? inv_n : 0.0f);
    }
}

// One LSTM step's gate math for all B sequences: gates_t [B, 4H] (pre-activations i, f, g, o)
// become the activations; c_t, h_t [B, H] are written from c_prev.
extern "C" __global__ void lstm_cell_forward(float* gates, const float* c_prev, float* c, float* h, u32 batch,
                                             u32 hidden) {
    u32 total = batch * hidden;
    for (u32 idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
        u32 b = idx / hidden, j = idx % hidden;
        float* g = gates + (u64)b * 4 * hidden;
        float i = sigmoidf_(g[j]);
        float f = sigmoidf_(g[hidden + j]);
        float gg = tanhf(g[2 * hidden + j]);
        float o = sigmoidf_(g[3 * hidden + j]);
        float cell = f * c_prev[idx] + i * gg;
        c[idx] = cell;
        h[idx] = o * tanhf(cell);
        g[j] = i;
        g[hidden + j] = f;
        g[2 * hidden + j] = gg;
        g[3 * hidden + j] = o;
    }
}

// One step back: d gates_t [B, 4H] from dh = dy_t + dh_next and dc_next (replaced by d c_{t-1}).
extern "C" __global__ void lstm_cell_backward(const float* gates, const float* c_prev, const float* c,
                                              const float* dy, const float* dh_next, float* dc_next, float* dg,
                                              u32 batch, u32 hidden, int first) {
    u32 total = batch * hidden;
    for (u32 idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
        u32 b = idx / hidden, j = idx % hidden;
        const float* g = gates + (u64)b * 4 * hidden;
        float* d = dg + (u64)b * 4 * hidden;
        float i = g[j], f = g[hidden + j], gg = g[2 * hidden + j], o = g[3 * hidden + j];
        float tc = tanhf(c[idx]);
        // the last step (first in reverse) has no later step: dh_next and dc_next are zero
        float dh = dy[idx] + (first ? 0.0f : dh_next[idx]);
        float dc = dh * o * (1.0f - tc * tc) + (first ? 0.0f : dc_next[idx]);
        d[j] = dc * gg * i * (1.0f - i);
        d[hidden + j] = dc * c_prev[idx] * f * (1.0f - f);
        d[2 * hidden + j] = dc * i * (1.0f - gg * gg);
        d[3 * hidden + j] = dh * tc * o * (1.0f - o);
        dc_next[idx] = dc * f;
    }
}

// w -= lr · scale · g; g = 0. With clip, scale = min(1, max_norm / (√sum_sq[0] + 1e-6)), read on
// the device so no step waits for the host.
extern "C" __global__ void sgd(float* w, float* g, u64 n, float lr, const float* sum_sq, float max_norm,
                               int clip) {
    float scale = 1.0f;
    if (clip) scale = fminf(max_norm / (sqrtf(sum_sq[0]) + 1e-6f), 1.0f);
    float step = lr * scale;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        w[i] -= step * g[i];
        g[i] = 0.0f;
    }
}

// torch.optim.SGD's step, in the order of src/kernels/sgd.rs: d = g * gs + wd * w; with a
// momentum buffer, buf = d on the first step, else momentum * buf + d, and the update is
// d + momentum * buf with Nesterov, else buf; then g = 0.
extern "C" __global__ void torch_sgd(float* w, float* g, float* buf, u64 n, float lr, float momentum, int nesterov,
                                     float wd, float gs, int has_buf, int first) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float d = g[i] * gs + wd * w[i];
        float update = d;
        if (has_buf) {
            float b = first ? d : momentum * buf[i] + d;
            buf[i] = b;
            update = nesterov ? d + momentum * b : b;
        }
        w[i] -= lr * update;
        g[i] = 0.0f;
    }
}

// One AdamW step, in the order of src/kernels/adam.rs: decay, moments, bias-corrected update;
// then g = 0.
extern "C" __global__ void adamw(float* w, float* g, float* m, float* v, u64 n, float lr, float beta1,
                                 float beta2, float eps, float wd, float bc1, float bc2, float gs) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float gi = g[i] * gs;
        g[i] = 0.0f;
        float wi = w[i] * (1.0f - lr * wd);
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}

// y = max(y, 0)
extern "C" __global__ void relu(float* y, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        y[i] = fmaxf(y[i], 0.0f);
}

// dy *= (y > 0)
extern "C" __global__ void relu_backward(float* dy, const float* y, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        if (y[i] <= 0.0f) dy[i] = 0.0f;
}

// Batch statistics per column from column_partials(what 1) of x [rows, cols]. train: saved =
// (mean, 1/sqrt(var + eps)) of the batch (var biased) and the running stats move by momentum
// toward mean and the unbiased var; else saved comes from the running stats (part unread).
extern "C" __global__ void batch_norm_stats(float* saved, float* running_mean, float* running_var,
                                            const double* part, u32 chunks, u32 rows, u32 cols, float eps,
                                            float momentum, int train) {
    for (u32 col = blockIdx.x * blockDim.x + threadIdx.x; col < cols; col += gridDim.x * blockDim.x) {
        if (!train) {
            saved[col] = running_mean[col];
            saved[cols + col] = 1.0f / sqrtf(running_var[col] + eps);
            continue;
        }
        double mean = chunk_total(part, chunks, cols, col, 0) / rows;
        double var = fmax(chunk_total(part, chunks, cols, col, 1) / rows - mean * mean, 0.0);
        saved[col] = (float)mean;
        saved[cols + col] = 1.0f / sqrtf((float)var + eps);
        running_mean[col] = (1.0f - momentum) * running_mean[col] + momentum * (float)mean;
        running_var[col] = (1.0f - momentum) * running_var[col] + momentum * (float)(var * rows / (rows - 1.0));
    }
}

// out = gamma * (x - mean) * inv_std + beta, columns of saved = (mean, inv_std); with relu, its ReLU
extern "C" __global__ void batch_norm_apply(float* out, const float* x, const float* gamma, const float* beta,
                                            const float* saved, u64 n, u32 cols, int relu) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        u32 j = i % cols;
        float y = gamma[j] * ((x[i] - saved[j]) * saved[cols + j]) + beta[j];
        out[i] = relu ? fmaxf(y, 0.0f) : y;
    }
}

// sums = (Σ dy, Σ dy·x̂) per column from column_partials(what 2), added to d_beta and d_gamma
extern "C" __global__ void batch_norm_grad_sums(float* sums, float* d_gamma, float* d_beta, const double* part,
                                                u32 chunks, u32 cols) {
    for (u32 col = blockIdx.x * blockDim.x + threadIdx.x; col < cols; col += gridDim.x * blockDim.x) {
        float ts = (float)chunk_total(part, chunks, cols, col, 0);
        float tq = (float)chunk_total(part, chunks, cols, col, 1);
        sums[col] = ts;
        sums[cols + col] = tq;
        d_beta[col] += ts;
        d_gamma[col] += tq;
    }
}

// dx = gamma·inv_std/R · (R·dy − Σdy − x̂·Σ(dy·x̂))
// (dy taken as 0 where relu_out ≤ 0 when relu_out is given)
extern "C" __global__ void batch_norm_grad_input(float* dx, const float* dy, const float* x, const float* gamma,
                                                 const float* saved, const float* sums, const float* relu_out, u64 n,
                                                 u32 cols) {
    float rows = (float)(n / cols);
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        u32 j = i % cols;
        float g = relu_out && relu_out[i] <= 0.0f ? 0.0f : dy[i];
        float xhat = (x[i] - saved[j]) * saved[cols + j];
        float k = gamma[j] * saved[cols + j] / rows;
        dx[i] = k * (rows * g - sums[j] - xhat * sums[cols + j]);
    }
}

// ---- transformer inference (LUKE) ----------------------------------------------------------

// One block per row of x [rows, cols], in place: (x − mean)/√(var + eps)·g + b, the mean and
// the biased variance summed in doubles (as the CPU does).
extern "C" __global__ void layer_norm(float* x, const float* g, const float* b, u32 rows, u32 cols, float eps) {
    __shared__ double shared[32];
    for (u32 r = blockIdx.x; r < rows; r += gridDim.x) {
        float* row = x + (u64)r * cols;
        double s = 0.0;
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) s += (double)row[j];
        double mean = block_sum(s, shared) / (double)cols;
        double q = 0.0;
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x) {
            double d = (double)row[j] - mean;
            q += d * d;
        }
        double inv = 1.0 / sqrt(block_sum(q, shared) / (double)cols + (double)eps);
        for (u32 j = threadIdx.x; j < cols; j += blockDim.x)
            row[j] = (float)(((double)row[j] - mean) * inv) * g[j] + b[j];
    }
}

// x = act(x): 0 exact GELU, 1 GELU's tanh approximation, 2 ReLU, 3 tanh
extern "C" __global__ void activate(float* x, u64 n, int act) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float v = x[i];
        if (act == 0) v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        else if (act == 1) v = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
        else if (act == 2) v = fmaxf(v, 0.0f);
        else v = tanhf(v);
        x[i] = v;
    }
}

// The block row of position t of sequence b in a stacked [B·W + B·N, width] block: its words
// first (t < W), then its entities.
__device__ __forceinline__ u64 stacked_row(u32 b, u32 t, u32 batch, u32 words, u32 entities) {
    return t < words ? (u64)b * words + t : (u64)batch * words + (u64)b * entities + (t - words);
}

// Between a stacked block x (rows of `width`) and its heads [(b·H + h)·K + t, i] (K = W + N),
// the slice at columns col + h·d + i of row stacked_row(b, t): with `to_heads` each (sequence,
// head)'s rows are made contiguous for the batched products; without, the heads' context goes
// back into the block's rows.
extern "C" __global__ void move_heads(float* heads, float* x, u32 width, u32 col, u32 batch, u32 words, u32 entities,
                                      u32 nheads, u32 d, int to_heads) {
    u32 keys = words + entities;
    u64 total = (u64)batch * nheads * keys * d;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u32 j = i % d;
        u64 row = i / d;
        u32 t = row % keys;
        u64 bh = row / keys;
        u32 h = bh % nheads, b = bh / nheads;
        u64 at = stacked_row(b, t, batch, words, entities) * width + col + (u64)h * d + j;
        if (to_heads) heads[i] = x[at];
        else x[at] = heads[i];
    }
}

// One block per score row [K] of sequence b = row / (H·K): scaled, masked keys (masks[b·K + j]
// = 0) set to −∞, then the softmax in place.
extern "C" __global__ void attention_softmax(float* scores, const u32* masks, u32 rows, u32 keys, u32 nheads,
                                             float scale) {
    __shared__ float shared[32];
    for (u32 r = blockIdx.x; r < rows; r += gridDim.x) {
        float* row = scores + (u64)r * keys;
        const u32* mask = masks + (u64)(r / ((u64)nheads * keys)) * keys;
        float m = -INF32;
        for (u32 j = threadIdx.x; j < keys; j += blockDim.x) {
            float s = mask[j] ? row[j] * scale : -INF32;
            row[j] = s;
            m = fmaxf(m, s);
        }
        m = block_max(m, shared);
        float sum = 0.0f;
        for (u32 j = threadIdx.x; j < keys; j += blockDim.x) {
            float e = expf(row[j] - m);
            row[j] = e;
            sum += e;
        }
        sum = block_sum(sum, shared);
        for (u32 j = threadIdx.x; j < keys; j += blockDim.x) row[j] /= sum;
    }
}
