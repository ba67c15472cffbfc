//! BatchNorm1d over `[B, D]` with PyTorch's semantics: batch statistics (biased variance) in
//! training, running statistics (updated with the unbiased variance, momentum 0.1) in eval.

use super::params::{Init, ParamId, Params};
use rand::Rng;

pub const EPS: f32 = 1e-5;
pub const MOMENTUM: f32 = 0.1;

#[derive(Debug, Clone)]
pub struct BatchNorm1d {
    pub weight: ParamId,
    pub bias: ParamId,
    pub running_mean: ParamId,
    pub running_var: ParamId,
    pub dim: usize,
}

/// What the backward pass needs from a training forward.
#[derive(Debug, Clone)]
pub struct BnCache {
    /// Normalised input `[B, D]`.
    xhat: Vec<f32>,
    /// 1/√(var+eps) per feature `[D]`.
    inv_std: Vec<f32>,
}

impl BatchNorm1d {
    pub fn new(params: &mut Params, prefix: &str, dim: usize, rng: &mut impl Rng) -> Self {
        Self {
            weight: params.add(&format!("{prefix}.weight"), &[dim], Init::Constant(1.0), true, rng),
            bias: params.add(&format!("{prefix}.bias"), &[dim], Init::Constant(0.0), true, rng),
            running_mean: params.add(
                &format!("{prefix}.running_mean"),
                &[dim],
                Init::Constant(0.0),
                false,
                rng,
            ),
            running_var: params.add(
                &format!("{prefix}.running_var"),
                &[dim],
                Init::Constant(1.0),
                false,
                rng,
            ),
            dim,
        }
    }

    /// Training forward, in place on x `[B, D]`; B must be at least 2.
    pub fn forward_train(&self, params: &mut Params, x: &mut [f32], batch: usize) -> BnCache {
        let (mean, var) = batch_stats(x, self.dim);
        let inv_std = inv_std(&var, EPS);
        let mut running_mean = std::mem::take(&mut params[self.running_mean].value);
        let mut running_var = std::mem::take(&mut params[self.running_var].value);
        update_running(&mut running_mean, &mut running_var, &mean, &var, batch, MOMENTUM);
        params[self.running_mean].value = running_mean;
        params[self.running_var].value = running_var;
        let mut xhat = vec![0f32; x.len()];
        let (gamma, beta) = (params.value(self.weight), params.value(self.bias));
        for (row, hrow) in x.chunks_exact_mut(self.dim).zip(xhat.chunks_exact_mut(self.dim)) {
            for j in 0..self.dim {
                let h = (row[j] - mean[j]) * inv_std[j];
                hrow[j] = h;
                row[j] = gamma[j] * h + beta[j];
            }
        }
        BnCache { xhat, inv_std }
    }

    /// Eval forward with running statistics, in place on x `[B, D]`.
    pub fn forward_eval(&self, params: &Params, x: &mut [f32]) {
        let (gamma, beta) = (params.value(self.weight), params.value(self.bias));
        let (mean, var) = (params.value(self.running_mean), params.value(self.running_var));
        normalize_eval(x, gamma, beta, mean, var, EPS);
    }

    /// dy `[B, D]` → dx `[B, D]` in place; accumulates dγ, dβ.
    pub fn backward(&self, params: &mut Params, cache: &BnCache, dy: &mut [f32], batch: usize) {
        let mut d_gamma = std::mem::take(&mut params[self.weight].grad);
        let mut d_beta = std::mem::take(&mut params[self.bias].grad);
        let gamma = params.value(self.weight);
        backward(dy, &cache.xhat, gamma, &cache.inv_std, &mut d_gamma, &mut d_beta, batch);
        params[self.weight].grad = d_gamma;
        params[self.bias].grad = d_beta;
    }
}

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
