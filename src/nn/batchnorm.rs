//! Batch normalisation's arithmetic over `[R, D]` with PyTorch's semantics: batch statistics
//! (biased variance) in training, running statistics (updated with the unbiased variance,
//! momentum 0.1) in eval. The CPU backend's `batch_norm` and its backward are these functions.

pub const EPS: f32 = 1e-5;
pub const MOMENTUM: f32 = 0.1;

/// Per-column mean and biased variance of `x` `[R, D]`.
pub fn batch_stats(x: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = (x.len() / d) as f32;
    let mut mean = vec![0f32; d];
    let mut var = vec![0f32; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows);
    for row in x.chunks_exact(d) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    var.iter_mut().for_each(|s| *s /= rows);
    (mean, var)
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

/// The training backward over `[R, D]`, in place: `dy` becomes dx; dγ += Σ dy·x̂, dβ += Σ dy.
/// dx = inv_std/R · (R·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), with dx̂ = dy·γ.
pub fn backward(
    dy: &mut [f32],
    xhat: &[f32],
    gamma: &[f32],
    inv_std: &[f32],
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
    rows: usize,
) {
    let d = gamma.len();
    let mut sum_dy = vec![0f32; d];
    let mut sum_dy_xhat = vec![0f32; d];
    for (row, hrow) in dy.chunks_exact(d).zip(xhat.chunks_exact(d)) {
        for j in 0..d {
            sum_dy[j] += row[j];
            sum_dy_xhat[j] += row[j] * hrow[j];
        }
    }
    for (g, s) in d_gamma.iter_mut().zip(&sum_dy_xhat) {
        *g += s;
    }
    for (g, s) in d_beta.iter_mut().zip(&sum_dy) {
        *g += s;
    }
    let n = rows as f32;
    for (row, hrow) in dy.chunks_exact_mut(d).zip(xhat.chunks_exact(d)) {
        for j in 0..d {
            let k = gamma[j] * inv_std[j] / n;
            row[j] = k * (n * row[j] - sum_dy[j] - hrow[j] * sum_dy_xhat[j]);
        }
    }
}
