//! Fully connected layer `y = x Wᵀ + b` with PyTorch's `weight [out, in]` layout.

use super::params::{Init, ParamId, Params};
use crate::kernels::matmul::{matmul, Layout};
use rand::Rng;

#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub in_dim: usize,
    pub out_dim: usize,
}

impl Linear {
    /// PyTorch's default init: weight and bias uniform in ±1/√in, unless `weight_init` is given.
    pub fn new(
        params: &mut Params,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        weight_init: Option<Init>,
        rng: &mut impl Rng,
    ) -> Self {
        let bound = 1.0 / (in_dim as f32).sqrt();
        let init = weight_init.unwrap_or(Init::Uniform { bound });
        let weight = params.add(&format!("{prefix}.weight"), &[out_dim, in_dim], init, true, rng);
        let bias = bias.then(|| {
            params.add(
                &format!("{prefix}.bias"),
                &[out_dim],
                Init::Uniform { bound },
                true,
                rng,
            )
        });
        Self {
            weight,
            bias,
            in_dim,
            out_dim,
        }
    }

    /// x `[B, in]` → y `[B, out]`.
    pub fn forward(&self, params: &Params, x: &[f32], batch: usize) -> Vec<f32> {
        let mut y = vec![0f32; batch * self.out_dim];
        if let Some(b) = self.bias {
            let b = params.value(b);
            for row in y.chunks_exact_mut(self.out_dim) {
                row.copy_from_slice(b);
            }
        }
        // y[B,out] (+)= x[B,in] · Wᵀ[in,out]
        let w = params.value(self.weight);
        matmul(
            &mut y,
            x,
            Layout::Plain,
            w,
            Layout::Transposed,
            batch,
            self.in_dim,
            self.out_dim,
            self.bias.is_some(),
        );
        y
    }

    /// Accumulates dW `[out, in]` += dyᵀ·x and db += Σ dy; returns dx `[B, in]` = dy·W if asked.
    pub fn backward(
        &self,
        params: &mut Params,
        x: &[f32],
        dy: &[f32],
        batch: usize,
        want_dx: bool,
    ) -> Option<Vec<f32>> {
        let (o, i) = (self.out_dim, self.in_dim);
        {
            let w = &mut params[self.weight];
            matmul(&mut w.grad, dy, Layout::Transposed, x, Layout::Plain, o, batch, i, true);
        }
        if let Some(b) = self.bias {
            let g = &mut params[b].grad;
            for row in dy.chunks_exact(o) {
                for (gj, dj) in g.iter_mut().zip(row) {
                    *gj += dj;
                }
            }
        }
        want_dx.then(|| {
            let mut dx = vec![0f32; batch * i];
            matmul(
                &mut dx,
                dy,
                Layout::Plain,
                params.value(self.weight),
                Layout::Plain,
                batch,
                o,
                i,
                false,
            );
            dx
        })
    }
}
