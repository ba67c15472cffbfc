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
        let d = self.dim;
        let mut mean = vec![0f32; d];
        let mut var = vec![0f32; d];
        for row in x.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= batch as f32);
        for row in x.chunks_exact(d) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        var.iter_mut().for_each(|s| *s /= batch as f32);
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
        let unbias = batch as f32 / (batch as f32 - 1.0);
        for (r, m) in params.list[self.running_mean].value.iter_mut().zip(&mean) {
            *r = (1.0 - MOMENTUM) * *r + MOMENTUM * m;
        }
        for (r, v) in params.list[self.running_var].value.iter_mut().zip(&var) {
            *r = (1.0 - MOMENTUM) * *r + MOMENTUM * v * unbias;
        }
        let mut xhat = vec![0f32; x.len()];
        let (gamma, beta) = (params.value(self.weight), params.value(self.bias));
        for (row, hrow) in x.chunks_exact_mut(d).zip(xhat.chunks_exact_mut(d)) {
            for j in 0..d {
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
        let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + EPS).sqrt()).collect();
        for row in x.chunks_exact_mut(self.dim) {
            for j in 0..self.dim {
                row[j] = (row[j] - mean[j]) * scale[j] + beta[j];
            }
        }
    }

    /// dy `[B, D]` → dx `[B, D]` in place; accumulates dγ, dβ.
    /// dx = inv_std/B · (B·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), with dx̂ = dy·γ.
    pub fn backward(&self, params: &mut Params, cache: &BnCache, dy: &mut [f32], batch: usize) {
        let d = self.dim;
        let mut sum_dy = vec![0f32; d];
        let mut sum_dy_xhat = vec![0f32; d];
        for (row, hrow) in dy.chunks_exact(d).zip(cache.xhat.chunks_exact(d)) {
            for j in 0..d {
                sum_dy[j] += row[j];
                sum_dy_xhat[j] += row[j] * hrow[j];
            }
        }
        for (g, s) in params.list[self.weight].grad.iter_mut().zip(&sum_dy_xhat) {
            *g += s;
        }
        for (g, s) in params.list[self.bias].grad.iter_mut().zip(&sum_dy) {
            *g += s;
        }
        let gamma = params.value(self.weight);
        let n = batch as f32;
        for (row, hrow) in dy.chunks_exact_mut(d).zip(cache.xhat.chunks_exact(d)) {
            for j in 0..d {
                let k = gamma[j] * cache.inv_std[j] / n;
                row[j] = k * (n * row[j] - sum_dy[j] - hrow[j] * sum_dy_xhat[j]);
            }
        }
    }
}
