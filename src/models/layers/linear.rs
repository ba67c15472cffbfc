//! `nn.Linear` over [`Backend`]: `y[R, Out] = x[R, In] · Wᵀ + b`, `weight` `[Out, In]`, the
//! bias optional (`bias=False`, as the single-layer classifier's).

use super::torch_default_bound;
use crate::compute::{Backend, Layout};
use crate::models::device_params::{DeviceParams, Slot};
use crate::nn::params::{Init, Params};
use anyhow::Result;
use rand::Rng;

pub struct Linear {
    weight: Slot,
    bias: Option<Slot>,
    pub inputs: usize,
    pub outputs: usize,
}

impl Linear {
    /// Adds `{prefix}.weight` and `{prefix}.bias` to `host` with PyTorch's default init.
    pub fn init(host: &mut Params, prefix: &str, inputs: usize, outputs: usize, rng: &mut impl Rng) {
        let init = Init::Uniform {
            bound: torch_default_bound(inputs),
        };
        host.add(&format!("{prefix}.weight"), &[outputs, inputs], init, true, rng);
        host.add(&format!("{prefix}.bias"), &[outputs], init, true, rng);
    }

    pub fn upload<B: Backend>(
        be: &B,
        params: &mut DeviceParams<B>,
        host: &Params,
        prefix: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Self> {
        let mut layer = Self::upload_without_bias(be, params, host, prefix, inputs, outputs)?;
        layer.bias = Some(params.upload(be, host, &format!("{prefix}.bias"))?);
        Ok(layer)
    }

    /// [`Linear::upload`] of a layer with no bias: `{prefix}.weight` alone.
    pub fn upload_without_bias<B: Backend>(
        be: &B,
        params: &mut DeviceParams<B>,
        host: &Params,
        prefix: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Self> {
        Ok(Self {
            weight: params.upload(be, host, &format!("{prefix}.weight"))?,
            bias: None,
            inputs,
            outputs,
        })
    }

    /// `x` `[R, In]` → `[R, Out]`.
    pub fn forward<B: Backend>(&self, be: &B, values: &[B::Buf], x: &B::Buf, rows: usize) -> Result<B::Buf> {
        let (i, o) = (self.inputs, self.outputs);
        let mut y = be.scratch(rows * o)?; // every value written
        match self.bias {
            // y[R, Out] = b + x[R, In] · W[Out, In]ᵀ
            Some(bias) => be.gemm_onto_row(
                &mut y,
                &values[bias],
                x,
                Layout::Plain,
                &values[self.weight],
                Layout::Transposed,
                rows,
                i,
                o,
            )?,
            // y[R, Out] = x[R, In] · W[Out, In]ᵀ
            None => be.gemm(
                &mut y,
                x,
                Layout::Plain,
                &values[self.weight],
                Layout::Transposed,
                rows,
                i,
                o,
                false,
            )?,
        }
        Ok(y)
    }

    /// Adds dW = dyᵀ·x and db = Σ dy to the gradients (a first layer stops here).
    pub fn weight_grads<B: Backend>(
        &self,
        be: &B,
        grads: &mut [B::Buf],
        x: &B::Buf,
        dy: &B::Buf,
        rows: usize,
    ) -> Result<()> {
        let (i, o) = (self.inputs, self.outputs);
        // dW[Out, In] += dy[R, Out]ᵀ · x[R, In]
        be.gemm(
            &mut grads[self.weight],
            dy,
            Layout::Transposed,
            x,
            Layout::Plain,
            o,
            rows,
            i,
            true,
        )?;
        match self.bias {
            Some(bias) => be.column_sums(&mut grads[bias], dy, o, true),
            None => Ok(()),
        }
    }

    /// [`Linear::weight_grads`], and returns dx `[R, In]` = dy·W.
    pub fn backward<B: Backend>(
        &self,
        be: &B,
        (values, grads): (&[B::Buf], &mut [B::Buf]),
        x: &B::Buf,
        dy: &B::Buf,
        rows: usize,
    ) -> Result<B::Buf> {
        self.weight_grads(be, grads, x, dy, rows)?;
        let (i, o) = (self.inputs, self.outputs);
        // dx[R, In] = dy[R, Out] · W[Out, In]
        let mut dx = be.scratch(rows * i)?; // every value written
        be.gemm(
            &mut dx,
            dy,
            Layout::Plain,
            &values[self.weight],
            Layout::Plain,
            rows,
            o,
            i,
            false,
        )?;
        Ok(dx)
    }
}
