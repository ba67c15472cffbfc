//! `nn.BatchNorm1d` / `nn.BatchNorm2d` over [`Backend`]: one layer for both, over the rows of
//! `[R, C]` (`[N, C]`, or channels-last `[N·H·W, C]`). `weight`, `bias` train; the running
//! statistics are buffers, kept here and written back by name for checkpoints.

use super::conv2d::Grid;
use super::max_pool2d::{self, MaxPoolTape};
use crate::compute::Backend;
use crate::models::device_params::{DeviceParams, Slot};
use crate::nn::batchnorm::{EPS, MOMENTUM};
use crate::nn::params::{Init, Params};
use anyhow::{ensure, Context, Result};
use rand::Rng;

pub struct BatchNorm<B: Backend> {
    weight: Slot,
    bias: Slot,
    running_mean: B::Buf,
    running_var: B::Buf,
    prefix: String,
    pub channels: usize,
}

/// What backward needs: the input and (μ, 1/σ) `[2C]`.
pub struct BatchNormTape<B: Backend> {
    x: B::Buf,
    saved: B::Buf,
}

impl<B: Backend> BatchNormTape<B> {
    /// The layer's input `[R, C]`.
    pub fn input(&self) -> &B::Buf {
        &self.x
    }

    /// The layer's input, to hand back to the backend once the backward is done.
    pub fn into_input(self) -> B::Buf {
        self.x
    }
}

impl<B: Backend> BatchNorm<B> {
    /// Adds weight 1, bias 0, running mean 0 and running variance 1 (torch's start).
    pub fn init(host: &mut Params, prefix: &str, channels: usize, rng: &mut impl Rng) {
        host.add(&format!("{prefix}.weight"), &[channels], Init::Constant(1.0), true, rng);
        host.add(&format!("{prefix}.bias"), &[channels], Init::Constant(0.0), true, rng);
        host.add(
            &format!("{prefix}.running_mean"),
            &[channels],
            Init::Constant(0.0),
            false,
            rng,
        );
        host.add(
            &format!("{prefix}.running_var"),
            &[channels],
            Init::Constant(1.0),
            false,
            rng,
        );
    }

    pub fn upload(be: &B, params: &mut DeviceParams<B>, host: &Params, prefix: &str, channels: usize) -> Result<Self> {
        let buffer = |what: &str| -> Result<B::Buf> {
            let name = format!("{prefix}.{what}");
            be.upload(
                &host
                    .get(&name)
                    .with_context(|| format!("the model has no tensor {name}"))?
                    .value,
            )
        };
        Ok(Self {
            weight: params.upload(be, host, &format!("{prefix}.weight"))?,
            bias: params.upload(be, host, &format!("{prefix}.bias"))?,
            running_mean: buffer("running_mean")?,
            running_var: buffer("running_var")?,
            prefix: prefix.to_string(),
            channels,
        })
    }

    /// `x` `[R, C]` → `[R, C]`: batch statistics when `train` (the running ones move), else the
    /// running statistics; with `relu`, the ReLU of that in the same pass (a BatchNorm → ReLU
    /// pair, whose backward is [`BatchNorm::backward`] with the output as `relu_out`).
    pub fn forward(
        &mut self,
        be: &B,
        values: &[B::Buf],
        x: B::Buf,
        train: bool,
        relu: bool,
    ) -> Result<(B::Buf, BatchNormTape<B>)> {
        let mut out = be.scratch(be.len(&x))?; // every value written
        let mut saved = be.zeros(2 * self.channels)?;
        be.batch_norm(
            &mut out,
            &x,
            &values[self.weight],
            &values[self.bias],
            (&mut self.running_mean, &mut self.running_var),
            &mut saved,
            EPS,
            train.then_some(MOMENTUM),
            relu,
        )?;
        Ok((out, BatchNormTape { x, saved }))
    }

    /// [`BatchNorm::forward`] with `relu`, then a 2×2 max pooling over the images of `grid`,
    /// in one ([`Backend::batch_norm_relu_max_pool`]): the pooled `[N·PH·PW, C]` and the
    /// pooling's tape (the ReLU's output is not kept: [`BatchNorm::backward_pooled`] needs only
    /// the pooled values).
    pub fn forward_pooled(
        &mut self,
        be: &B,
        values: &[B::Buf],
        x: B::Buf,
        train: bool,
        grid: Grid,
    ) -> Result<(B::Buf, BatchNormTape<B>, MaxPoolTape<B>)> {
        let p = max_pool2d::pooled_grid(grid);
        ensure!(p.h > 0 && p.w > 0, "2×2 max pooling over a {}×{} grid", grid.h, grid.w);
        let mut pooled = be.scratch(p.pixels() * self.channels)?; // every value written
        let mut argmax = be.ids_for_output(p.pixels() * self.channels)?;
        let mut saved = be.zeros(2 * self.channels)?;
        be.batch_norm_relu_max_pool(
            (&mut pooled, &mut argmax),
            &x,
            (&values[self.weight], &values[self.bias]),
            (&mut self.running_mean, &mut self.running_var),
            &mut saved,
            EPS,
            train.then_some(MOMENTUM),
            (grid.n, grid.h, grid.w),
        )?;
        Ok((pooled, BatchNormTape { x, saved }, MaxPoolTape::new(argmax, grid)))
    }

    /// dγ, dβ added; returns dx `[R, C]`. After a forward with `relu`, `dy` is the gradient
    /// of the ReLU's output and `relu_out` that output.
    pub fn backward(
        &self,
        be: &B,
        (values, grads): (&[B::Buf], &mut [B::Buf]),
        tape: &BatchNormTape<B>,
        dy: &B::Buf,
        relu_out: Option<&B::Buf>,
    ) -> Result<B::Buf> {
        let mut dx = be.scratch(be.len(dy))?; // every value written
                                              // `upload` takes the weight's slot before the bias's
        let (lo, hi) = grads.split_at_mut(self.bias);
        be.batch_norm_backward(
            &mut dx,
            dy,
            &tape.x,
            &values[self.weight],
            &tape.saved,
            &mut lo[self.weight],
            &mut hi[0],
            relu_out,
        )?;
        Ok(dx)
    }

    /// [`BatchNorm::backward`] for a forward with `relu` whose output went through a 2×2 max
    /// pooling (`pool`), from the pooling's output gradient `d_pooled` and its output `pooled`:
    /// the pooling's backward and this one in one ([`Backend::max_pool_batch_norm_backward`]).
    pub fn backward_pooled(
        &self,
        be: &B,
        (values, grads): (&[B::Buf], &mut [B::Buf]),
        tape: &BatchNormTape<B>,
        pool: &MaxPoolTape<B>,
        (d_pooled, pooled): (&B::Buf, &B::Buf),
    ) -> Result<B::Buf> {
        let mut dx = be.scratch(be.len(&tape.x))?; // every value written
        let (lo, hi) = grads.split_at_mut(self.bias);
        let g = pool.grid();
        be.max_pool_batch_norm_backward(
            &mut dx,
            (d_pooled, pooled, pool.argmax()),
            (g.n, g.h, g.w),
            &tape.x,
            &values[self.weight],
            &tape.saved,
            &mut lo[self.weight],
            &mut hi[0],
        )?;
        Ok(dx)
    }

    /// Writes the running statistics into `host` by name (for a checkpoint).
    pub fn download_into(&self, be: &B, host: &mut Params) -> Result<()> {
        for (what, buf) in [("running_mean", &self.running_mean), ("running_var", &self.running_var)] {
            let name = format!("{}.{what}", self.prefix);
            let p = host
                .iter_mut()
                .find(|p| p.name == name)
                .with_context(|| format!("no tensor {name} to write back"))?;
            p.value = be.download(buf)?;
        }
        Ok(())
    }
}
