//! Batch normalisation's arithmetic over `[R, D]` with PyTorch's semantics: batch statistics
//! (biased variance) in training, running statistics (updated with the unbiased variance,
//! momentum 0.1) in eval. The CPU backend's `batch_norm` and its backward are these functions.

pub use super::batchnorm_pool::Pooled;
use crate::kernels::fastmath::widest_vectors;
use rayon::prelude::*;

pub const EPS: f32 = 1e-5;
pub const MOMENTUM: f32 = 0.1;

/// Inputs of fewer values than this run on one thread.
const PARALLEL_FROM: usize = 1 << 16;

/// Columns per group for an input of `len` values with `d` columns: all of them when small,
/// else one group per thread. Each column's sum runs over its rows in order whatever the
/// grouping, so the bits do not depend on the thread count.
fn columns_per_group(d: usize, len: usize) -> usize {
    if len < PARALLEL_FROM {
        return d.max(1);
    }
    d.div_ceil(rayon::current_num_threads().min(d).max(1)).max(1)
}

/// `f(first, a, b)` over matching groups of columns (from column `first`) of two per-column
/// results `a` and `b` `[D]`, for an input of `len` values, groups on every thread. Each group
/// works on its own copy: the loops store their sums at every row, and two groups' sums side
/// by side share a cache line (writing them in place made the CNN epoch about 10% slower).
fn by_columns(a: &mut [f32], b: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send) {
    let per = columns_per_group(a.len(), len);
    if per >= a.len() {
        return f(0, a, b);
    }
    a.par_chunks_mut(per)
        .zip(b.par_chunks_mut(per))
        .enumerate()
        .for_each(|(g, (a, b))| {
            let (mut own_a, mut own_b) = (a.to_vec(), b.to_vec());
            f(g * per, &mut own_a, &mut own_b);
            a.copy_from_slice(&own_a);
            b.copy_from_slice(&own_b);
        });
}

/// `f(block, at)` over blocks of whole rows of `out` `[R, D]`, `at` the block's first value,
/// on every thread (elementwise, so the bits do not depend on it).
fn by_rows(out: &mut [f32], d: usize, f: impl Fn(&mut [f32], usize) + Sync + Send) {
    if out.len() < PARALLEL_FROM {
        return f(out, 0);
    }
    let block = (PARALLEL_FROM / d).max(1) * d;
    out.par_chunks_mut(block).enumerate().for_each(|(i, o)| f(o, i * block));
}

/// `sums[j] += Σ_rows x[r, j]` over `x` `[R, D]` (a bias's gradient), each column's rows added
/// in order onto what `sums` holds; groups of columns on every thread when large.
pub fn add_column_sums(sums: &mut [f32], x: &[f32], d: usize) {
    let per = columns_per_group(d, x.len());
    if per >= d {
        return column_sums(sums, x, d, 0);
    }
    sums.par_chunks_mut(per).enumerate().for_each(|(g, s)| {
        // on a copy, as in `by_columns`
        let mut own = s.to_vec();
        column_sums(&mut own, x, d, g * per);
        s.copy_from_slice(&own);
    });
}

/// Rows per partial sum of a tall input ([`tall`]).
const BLOCK_ROWS: usize = 512;

/// Whether an input of `rows` rows is summed by blocks of rows ([`row_block_sums`]) rather
/// than by groups of columns ([`by_columns`]): from two blocks on. Split by columns, each
/// thread reads part of every row, and on a convolution's `[N·H·W, 64]` output that read the
/// whole array per thread (a column-sum pass took twice the time of one thread's in `perf`).
fn tall(rows: usize) -> bool {
    rows >= 2 * BLOCK_ROWS
}

/// `[width]` sums over `rows` rows: `f(rows, partial)` adds each block's rows into a zeroed
/// partial, the blocks on every thread, and the partials are added in block order: the bits do
/// not depend on the thread count.
fn row_block_sums(rows: usize, width: usize, f: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync + Send) -> Vec<f32> {
    let mut partials = vec![0f32; rows.div_ceil(BLOCK_ROWS) * width];
    partials
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(b, partial)| f(b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(rows), partial));
    let mut sums = vec![0f32; width];
    for partial in partials.chunks_exact(width) {
        sums.iter_mut().zip(partial).for_each(|(s, p)| *s += p);
    }
    sums
}

/// Rows `r` of `a` `[R, d]`.
fn rows_of(a: &[f32], r: std::ops::Range<usize>, d: usize) -> &[f32] {
    &a[r.start * d..r.end * d]
}

/// Per-column mean and biased variance of `x` `[R, D]`.
pub fn batch_stats(x: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = (x.len() / d) as f32;
    if tall(x.len() / d) {
        let mut mean = row_block_sums(x.len() / d, d, |r, s| column_sums(s, rows_of(x, r, d), d, 0));
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = row_block_sums(x.len() / d, d, |r, s| {
            centered_square_sums(s, rows_of(x, r, d), d, 0, &mean)
        });
        var.iter_mut().for_each(|s| *s /= rows);
        return (mean, var);
    }
    let (mut mean, mut var) = (vec![0f32; d], vec![0f32; d]);
    by_columns(&mut mean, &mut var, x.len(), |first, mean, var| {
        column_sums(mean, x, d, first);
        mean.iter_mut().for_each(|m| *m /= rows);
        centered_square_sums(var, x, d, first, mean);
        var.iter_mut().for_each(|s| *s /= rows);
    });
    (mean, var)
}

/// Training-mode normalisation: `out = γ·((x − μ)·inv_std) + β` over `[R, D]`, and with
/// `relu` its ReLU (the bits of [`crate::nn::activation::relu`] after it).
pub fn normalize(
    out: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    (mean, inv_std): (&[f32], &[f32]),
    relu: bool,
) {
    let d = gamma.len();
    by_rows(out, d, |out, at| {
        let x = &x[at..at + out.len()];
        match relu {
            true => normalize_relu_rows(out, x, gamma, beta, mean, inv_std),
            false => normalize_rows(out, x, gamma, beta, mean, inv_std),
        }
    });
}

/// 1/√(var + eps) per column.
pub fn inv_std(var: &[f32], eps: f32) -> Vec<f32> {
    var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect()
}

/// torch's running statistics: move by `momentum` toward the batch mean and the unbiased
/// variance of `rows` rows.
pub fn update_running(
    running_mean: &mut [f32],
    running_var: &mut [f32],
    mean: &[f32],
    var: &[f32],
    rows: usize,
    momentum: f32,
) {
    let unbias = rows as f32 / (rows as f32 - 1.0);
    for (r, m) in running_mean.iter_mut().zip(mean) {
        *r = (1.0 - momentum) * *r + momentum * m;
    }
    for (r, v) in running_var.iter_mut().zip(var) {
        *r = (1.0 - momentum) * *r + momentum * v * unbias;
    }
}

/// `x = (x − mean)·γ/√(var + eps) + β` in place over `[R, D]` (evaluation).
pub fn normalize_eval(x: &mut [f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) {
    let d = gamma.len();
    let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    for row in x.chunks_exact_mut(d) {
        for j in 0..d {
            row[j] = (row[j] - mean[j]) * scale[j] + beta[j];
        }
    }
}

/// The gradient batch norm's backward gets: `dy` (the output's), or the gradient after a ReLU
/// with that ReLU's output (`dy` is taken as 0 where it is ≤ 0), or a 2×2 max pooling's after
/// that ReLU ([`Pooled`]: each value's gradient made from its window, as the pooling's backward
/// and the ReLU's select would have written it).
#[derive(Clone, Copy)]
pub enum Upstream<'a> {
    Dense(&'a [f32]),
    ThroughRelu { dy: &'a [f32], relu_out: &'a [f32] },
    Pooled(Pooled<'a>),
}

/// The training backward over `x` `[R, D]`: dx from dy; dγ += Σ dy·x̂, dβ += Σ dy, with
/// x̂ = (x − μ)·inv_std taken as it is needed (not stored: a copy the size of the input).
/// dx = inv_std/R · (R·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), with dx̂ = dy·γ; dy as `upstream` gives it.
pub fn backward(
    dx: &mut [f32],
    upstream: Upstream,
    x: &[f32],
    (mean, inv_std): (&[f32], &[f32]),
    gamma: &[f32],
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
) {
    let d = gamma.len();
    // Σdy and Σdy·x̂ over rows `r`, columns `first..first + s.len()`
    let sums = |r: std::ops::Range<usize>, first: usize, s: &mut [f32], sx: &mut [f32]| {
        let cols = first..first + s.len();
        let (mean, inv_std) = (&mean[cols.clone()], &inv_std[cols]);
        let block = |a| rows_of(a, r.clone(), d);
        match upstream {
            Upstream::Dense(dy) => grad_sums(s, sx, (block(dy), block(dy)), block(x), d, first, mean, inv_std),
            Upstream::ThroughRelu { dy, relu_out } => {
                grad_sums_through_relu(s, sx, (block(dy), block(relu_out)), block(x), d, first, mean, inv_std)
            }
            Upstream::Pooled(pool) => grad_sums_pooled(s, sx, (pool, r.start), block(x), d, first, mean, inv_std),
        }
    };
    let rows = x.len() / d;
    let (mut sum_dy, mut sum_dy_xhat) = (vec![0f32; d], vec![0f32; d]);
    if tall(rows) {
        let both = row_block_sums(rows, 2 * d, |r, both| {
            let (s, sx) = both.split_at_mut(d);
            sums(r, 0, s, sx)
        });
        sum_dy.copy_from_slice(&both[..d]);
        sum_dy_xhat.copy_from_slice(&both[d..]);
    } else {
        by_columns(&mut sum_dy, &mut sum_dy_xhat, x.len(), |first, s, sx| {
            sums(0..rows, first, s, sx)
        });
    }
    for (g, s) in d_gamma.iter_mut().zip(&sum_dy_xhat) {
        *g += s;
    }
    for (g, s) in d_beta.iter_mut().zip(&sum_dy) {
        *g += s;
    }
    let n = (x.len() / d) as f32;
    let k: Vec<f32> = (0..d).map(|j| gamma[j] * inv_std[j] / n).collect();
    let sums = (&sum_dy[..], &sum_dy_xhat[..]);
    by_rows(dx, d, |out, at| {
        let x = &x[at..at + out.len()];
        match upstream {
            Upstream::Dense(dy) => {
                let dy = &dy[at..at + out.len()];
                grad_input(out, (dy, dy), x, &k, n, sums, mean, inv_std)
            }
            Upstream::ThroughRelu { dy, relu_out } => {
                let (dy, y) = (&dy[at..at + out.len()], &relu_out[at..at + out.len()]);
                grad_input_through_relu(out, (dy, y), x, &k, n, sums, mean, inv_std)
            }
            Upstream::Pooled(pool) => grad_input_pooled(out, at / d, pool, x, &k, n, sums, mean, inv_std),
        }
    });
}

// The loops below run over whole rows, one lane per column: each column's sum still adds its
// rows in order, so the widest vectors give the bits of the baseline build.

widest_vectors! {
    /// `sums[j] += Σ_rows x[r, first + j]` over `x` `[R, d]`.
    fn column_sums(sums: &mut [f32], x: &[f32], d: usize, first: usize) = column_sums_body;
}

#[inline(always)]
fn column_sums_body(sums: &mut [f32], x: &[f32], d: usize, first: usize) {
    let w = sums.len();
    for row in x.chunks_exact(d) {
        for (s, v) in sums.iter_mut().zip(&row[first..first + w]) {
            *s += v;
        }
    }
}

widest_vectors! {
    /// `sums[j] += Σ_rows (x[r, first + j] − mean[j])²`.
    fn centered_square_sums(sums: &mut [f32], x: &[f32], d: usize, first: usize, mean: &[f32]) = centered_square_sums_body;
}

#[inline(always)]
fn centered_square_sums_body(sums: &mut [f32], x: &[f32], d: usize, first: usize, mean: &[f32]) {
    let w = sums.len();
    for row in x.chunks_exact(d) {
        for ((s, v), m) in sums.iter_mut().zip(&row[first..first + w]).zip(&mean[..w]) {
            *s += (v - m) * (v - m);
        }
    }
}

widest_vectors! {
    /// `out = γ·((x − μ)·inv_std) + β` over whole rows.
    fn normalize_rows(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], inv_std: &[f32]) = normalize_rows_body::<false>;
}

widest_vectors! {
    /// [`normalize_rows`], then the ReLU.
    fn normalize_relu_rows(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], inv_std: &[f32]) = normalize_rows_body::<true>;
}

#[inline(always)]
fn normalize_rows_body<const RELU: bool>(
    out: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    inv_std: &[f32],
) {
    let d = gamma.len();
    for (row, xrow) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
        let per_column = gamma.iter().zip(beta).zip(mean.iter().zip(inv_std));
        for ((o, v), ((g, b), (m, is))) in row.iter_mut().zip(xrow).zip(per_column) {
            let y = g * ((v - m) * is) + b;
            *o = if RELU { y.max(0.0) } else { y };
        }
    }
}

/// dy, or 0 where the ReLU's output `y` is ≤ 0 (`relu_backward`'s select).
#[inline(always)]
fn through_relu<const RELU: bool>(dy: f32, y: f32) -> f32 {
    if RELU && y <= 0.0 {
        0.0
    } else {
        dy
    }
}

widest_vectors! {
    /// The backward's column sums of dy and dy·x̂ for columns `first..first + w` (`mean` and
    /// `inv_std` those columns'); `dy` comes as (dy, anything of its shape).
    #[allow(clippy::too_many_arguments)]
    fn grad_sums(sum_dy: &mut [f32], sum_dy_xhat: &mut [f32], dy: (&[f32], &[f32]), x: &[f32], d: usize, first: usize, mean: &[f32], inv_std: &[f32]) = grad_sums_body::<false>;
}

widest_vectors! {
    /// [`grad_sums`] with `dy` = (the gradient after a ReLU, the ReLU's output).
    #[allow(clippy::too_many_arguments)]
    fn grad_sums_through_relu(sum_dy: &mut [f32], sum_dy_xhat: &mut [f32], dy: (&[f32], &[f32]), x: &[f32], d: usize, first: usize, mean: &[f32], inv_std: &[f32]) = grad_sums_body::<true>;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_sums_body<const RELU: bool>(
    sum_dy: &mut [f32],
    sum_dy_xhat: &mut [f32],
    (dy, y): (&[f32], &[f32]),
    x: &[f32],
    d: usize,
    first: usize,
    mean: &[f32],
    inv_std: &[f32],
) {
    let w = sum_dy.len();
    for ((row, yrow), xrow) in dy.chunks_exact(d).zip(y.chunks_exact(d)).zip(x.chunks_exact(d)) {
        let cols = first..first + w;
        add_grad_sums_row::<RELU>(
            sum_dy,
            sum_dy_xhat,
            &row[cols.clone()],
            &yrow[cols.clone()],
            &xrow[cols],
            mean,
            inv_std,
        );
    }
}

widest_vectors! {
    /// [`grad_sums`] with `dy` made from the pooling's side, row by row (`x` holds the rows
    /// from `first_row` on).
    #[allow(clippy::too_many_arguments)]
    fn grad_sums_pooled(sum_dy: &mut [f32], sum_dy_xhat: &mut [f32], pool: (Pooled, usize), x: &[f32], d: usize, first: usize, mean: &[f32], inv_std: &[f32]) = grad_sums_pooled_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_sums_pooled_body(
    sum_dy: &mut [f32],
    sum_dy_xhat: &mut [f32],
    (pool, first_row): (Pooled, usize),
    x: &[f32],
    d: usize,
    first: usize,
    mean: &[f32],
    inv_std: &[f32],
) {
    let w = sum_dy.len();
    let mut dy = vec![0f32; w];
    for (i, xrow) in x.chunks_exact(d).enumerate() {
        pool.gradients(&mut dy, first_row + i, d, first);
        add_grad_sums_row::<false>(sum_dy, sum_dy_xhat, &dy, &dy, &xrow[first..first + w], mean, inv_std);
    }
}

/// One row's share of [`grad_sums`]: `Σdy += dy`, `Σdy·x̂ += dy·x̂` per column.
#[inline(always)]
fn add_grad_sums_row<const RELU: bool>(
    sum_dy: &mut [f32],
    sum_dy_xhat: &mut [f32],
    dy: &[f32],
    y: &[f32],
    x: &[f32],
    mean: &[f32],
    inv_std: &[f32],
) {
    let values = dy.iter().zip(y).zip(x).zip(mean.iter().zip(inv_std));
    for ((s, sx), (((g, y), v), (m, is))) in sum_dy.iter_mut().zip(sum_dy_xhat.iter_mut()).zip(values) {
        let g = through_relu::<RELU>(*g, *y);
        let xhat = (v - m) * is;
        *s += g;
        *sx += g * xhat;
    }
}

widest_vectors! {
    /// dx over whole rows: `k·(n·dy − Σdy − x̂·Σdy·x̂)`, `k` = γ·inv_std/n per column; `dy`
    /// comes as (dy, anything of its shape).
    #[allow(clippy::too_many_arguments)]
    fn grad_input(out: &mut [f32], dy: (&[f32], &[f32]), x: &[f32], k: &[f32], n: f32, sums: (&[f32], &[f32]), mean: &[f32], inv_std: &[f32]) = grad_input_body::<false>;
}

widest_vectors! {
    /// [`grad_input`] with `dy` = (the gradient after a ReLU, the ReLU's output).
    #[allow(clippy::too_many_arguments)]
    fn grad_input_through_relu(out: &mut [f32], dy: (&[f32], &[f32]), x: &[f32], k: &[f32], n: f32, sums: (&[f32], &[f32]), mean: &[f32], inv_std: &[f32]) = grad_input_body::<true>;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_input_body<const RELU: bool>(
    out: &mut [f32],
    (dy, y): (&[f32], &[f32]),
    x: &[f32],
    k: &[f32],
    n: f32,
    sums: (&[f32], &[f32]),
    mean: &[f32],
    inv_std: &[f32],
) {
    let d = k.len();
    let rows = dy.chunks_exact(d).zip(y.chunks_exact(d)).zip(x.chunks_exact(d));
    for (out, ((row, yrow), xrow)) in out.chunks_exact_mut(d).zip(rows) {
        grad_input_row::<RELU>(out, row, yrow, xrow, k, n, sums, mean, inv_std);
    }
}

widest_vectors! {
    /// [`grad_input`] over rows from `first_row` on, with `dy` made from the pooling's side.
    #[allow(clippy::too_many_arguments)]
    fn grad_input_pooled(out: &mut [f32], first_row: usize, pool: Pooled, x: &[f32], k: &[f32], n: f32, sums: (&[f32], &[f32]), mean: &[f32], inv_std: &[f32]) = grad_input_pooled_body;
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_input_pooled_body(
    out: &mut [f32],
    first_row: usize,
    pool: Pooled,
    x: &[f32],
    k: &[f32],
    n: f32,
    sums: (&[f32], &[f32]),
    mean: &[f32],
    inv_std: &[f32],
) {
    let d = k.len();
    let mut dy = vec![0f32; d];
    for (i, (out, xrow)) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)).enumerate() {
        pool.gradients(&mut dy, first_row + i, d, 0);
        grad_input_row::<false>(out, &dy, &dy, xrow, k, n, sums, mean, inv_std);
    }
}

/// One row of [`grad_input`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_input_row<const RELU: bool>(
    out: &mut [f32],
    dy: &[f32],
    y: &[f32],
    x: &[f32],
    k: &[f32],
    n: f32,
    (sum_dy, sum_dy_xhat): (&[f32], &[f32]),
    mean: &[f32],
    inv_std: &[f32],
) {
    let per_column = k
        .iter()
        .zip(sum_dy.iter().zip(sum_dy_xhat))
        .zip(mean.iter().zip(inv_std));
    let values = dy.iter().zip(y).zip(x);
    for ((o, ((g, y), v)), ((k, (s, sx)), (m, is))) in out.iter_mut().zip(values).zip(per_column) {
        let g = through_relu::<RELU>(*g, *y);
        let xhat = (v - m) * is;
        *o = k * (n * g - s - xhat * sx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 37 + seed * 11) % 103) as f32 - 51.0) / 25.0)
            .collect()
    }

    /// The statistics and every kind of backward give the same bits on one thread as on two:
    /// on a tall input (4 images of 17×16: summed by blocks of rows, the last one ragged) and a
    /// wide one (2 images of 5×10 with 700 channels: by groups of columns).
    #[test]
    fn thread_count_leaves_the_bits() {
        for (n, h, w, d) in [(4, 17, 16, 64), (2, 5, 10, 700)] {
            let rows = n * h * w;
            let (x, dy, gamma) = (values(rows * d, 1), values(rows * d, 2), values(d, 3));
            let relu_out: Vec<f32> = values(rows * d, 4).iter().map(|v| v.max(0.0)).collect();
            // the 2×2 pooling of relu_out: each window's first maximum
            let (ph, pw) = (h / 2, w / 2);
            let (mut pooled, mut argmax) = (Vec::new(), Vec::new());
            for image in 0..n {
                for (py, px) in (0..ph).flat_map(|py| (0..pw).map(move |px| (py, px))) {
                    for c in 0..d {
                        let r = (image * h + 2 * py) * w + 2 * px;
                        let at = [r, r + 1, r + w, r + w + 1].map(|p| p * d + c);
                        let best = at
                            .iter()
                            .copied()
                            .fold(at[0], |b, i| if relu_out[i] > relu_out[b] { i } else { b });
                        pooled.push(relu_out[best]);
                        argmax.push(best as u32);
                    }
                }
            }
            let grad = values(pooled.len(), 5);
            let pool = Pooled {
                grad: &grad,
                out: &pooled,
                argmax: &argmax,
                images: (n, h, w),
            };
            let run = |threads: usize| {
                let threads = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                threads.install(|| {
                    let (mean, var) = batch_stats(&x, d);
                    let inv = inv_std(&var, EPS);
                    let upstreams = [
                        Upstream::Dense(&dy),
                        Upstream::ThroughRelu {
                            dy: &dy,
                            relu_out: &relu_out,
                        },
                        Upstream::Pooled(pool),
                    ];
                    let grads: Vec<_> = upstreams
                        .into_iter()
                        .map(|upstream| {
                            let (mut dx, mut dg, mut db) = (vec![0.0; rows * d], vec![0.0; d], vec![0.0; d]);
                            backward(&mut dx, upstream, &x, (&mean, &inv), &gamma, &mut dg, &mut db);
                            (dx, dg, db)
                        })
                        .collect();
                    (mean, var, grads)
                })
            };
            assert!(run(1) == run(2), "{n}×{h}×{w}, {d} channels");
        }
    }
}
