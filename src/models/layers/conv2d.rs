//! `nn.Conv2d(in, out, k)` (stride 1, no padding) over [`Backend`], as one product: the input
//! `[N·H·W, Cin]` (channels-last) read as patches `[N·OH·OW, k·k·Cin]` (im2col, one row of
//! width Cin per kernel position) meets the weight in one GEMM ([`Backend::patch_gemm`], which
//! on the CPU never stores the patches whole). The weight
//! stays in PyTorch's `[Cout, Cin, k, k]`; the product reads it permuted to `[Cout, k, k, Cin]`
//! (a gather of its 9·Cin·Cout values), and its gradient goes back through the same
//! permutation. The patch sources depend on the input grid alone and are made once per grid.
//! The products also get the input grid ([`ConvImages`]), from which a backend may convolve
//! without the patches: the CPU's Winograd path for 3×3 kernels (`kernels/winograd.rs`).

use super::ids_cache::IdsCache;
use super::torch_default_bound;
use crate::compute::{Backend, ConvImages, PatchShape};
use crate::models::device_params::{DeviceParams, Slot};
use crate::nn::params::{Init, Params};
use anyhow::{ensure, Result};
use rand::Rng;
use std::sync::Arc;

/// Images of a batch: `n` images of `h × w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub n: usize,
    pub h: usize,
    pub w: usize,
}

impl Grid {
    pub fn pixels(&self) -> usize {
        self.n * self.h * self.w
    }
}

pub struct Conv2d<B: Backend> {
    weight: Slot,
    bias: Slot,
    /// `[Cout·k·k·Cin]`: where each value of the permuted weight sits in PyTorch's layout.
    permutation: B::Ids,
    /// Per input grid, `[N·OH·OW, k·k]`: the input pixel under each kernel position of each
    /// output pixel.
    sources: IdsCache<B, Grid>,
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
}

/// What backward needs besides the input: where the patches came from, and the permuted
/// weight.
pub struct Conv2dTape<B: Backend> {
    sources: Arc<B::Ids>,
    weight: B::Buf,
    grid: Grid,
}

impl<B: Backend> Conv2d<B> {
    /// Adds `{prefix}.weight` `[Cout, Cin, k, k]` and `{prefix}.bias` with PyTorch's default init.
    pub fn init(host: &mut Params, prefix: &str, inputs: usize, outputs: usize, kernel: usize, rng: &mut impl Rng) {
        let init = Init::Uniform {
            bound: torch_default_bound(inputs * kernel * kernel),
        };
        host.add(
            &format!("{prefix}.weight"),
            &[outputs, inputs, kernel, kernel],
            init,
            true,
            rng,
        );
        host.add(&format!("{prefix}.bias"), &[outputs], init, true, rng);
    }

    pub fn upload(
        be: &B,
        params: &mut DeviceParams<B>,
        host: &Params,
        prefix: &str,
        (inputs, outputs, kernel): (usize, usize, usize),
    ) -> Result<Self> {
        // permuted[o, ky, kx, i] = torch[o, i, ky, kx]
        let mut permutation = Vec::with_capacity(outputs * kernel * kernel * inputs);
        for o in 0..outputs {
            for ky in 0..kernel {
                for kx in 0..kernel {
                    for i in 0..inputs {
                        permutation.push((((o * inputs + i) * kernel + ky) * kernel + kx) as u32);
                    }
                }
            }
        }
        Ok(Self {
            weight: params.upload(be, host, &format!("{prefix}.weight"))?,
            bias: params.upload(be, host, &format!("{prefix}.bias"))?,
            permutation: be.upload_ids(&permutation)?,
            sources: IdsCache::new(),
            inputs,
            outputs,
            kernel,
        })
    }

    /// The patches over input grid `g`.
    fn patches(&self, g: Grid) -> PatchShape {
        PatchShape {
            segments: self.kernel * self.kernel,
            width: self.inputs,
            outputs: self.outputs,
            images: Some(ConvImages {
                n: g.n,
                h: g.h,
                w: g.w,
                kernel: self.kernel,
            }),
        }
    }

    /// The output grid of an input grid.
    pub fn output_grid(&self, g: Grid) -> Grid {
        Grid {
            n: g.n,
            h: g.h + 1 - self.kernel,
            w: g.w + 1 - self.kernel,
        }
    }

    /// `x` `[N·H·W, Cin]` → `[N·OH·OW, Cout]`.
    pub fn forward(&self, be: &B, values: &[B::Buf], x: &B::Buf, g: Grid) -> Result<(B::Buf, Conv2dTape<B>)> {
        let k = self.kernel;
        ensure!(
            g.h >= k && g.w >= k,
            "a {k}×{k} convolution over a {}×{} grid",
            g.h,
            g.w
        );
        let o = self.output_grid(g);
        // sources[(p, ky, kx)] = the input pixel under kernel position (ky, kx) of output pixel p
        let sources = self.sources.get(be, g, || {
            let mut sources = Vec::with_capacity(o.pixels() * k * k);
            for n in 0..g.n {
                for y in 0..o.h {
                    for x in 0..o.w {
                        for ky in 0..k {
                            for kx in 0..k {
                                sources.push(((n * g.h + y + ky) * g.w + x + kx) as u32);
                            }
                        }
                    }
                }
            }
            sources
        })?;
        let mut weight = be.zeros(self.outputs * self.patches(g).cols())?; // [Cout, k·k·Cin]
        be.gather_rows(&mut weight, &values[self.weight], &self.permutation, 1)?;
        // out[P, Cout] = b + patches[P, k·k·Cin] · weight[Cout, k·k·Cin]ᵀ, every value written
        let mut out = be.scratch(o.pixels() * self.outputs)?;
        be.patch_gemm(&mut out, &values[self.bias], x, &sources, &weight, self.patches(g))?;
        Ok((
            out,
            Conv2dTape {
                sources,
                weight,
                grid: g,
            },
        ))
    }

    /// Adds dW and db to the gradients from the forward's input `x` (a first layer stops
    /// here).
    pub fn weight_grads(
        &self,
        be: &B,
        grads: &mut [B::Buf],
        tape: &Conv2dTape<B>,
        x: &B::Buf,
        dy: &B::Buf,
    ) -> Result<()> {
        be.column_sums(&mut grads[self.bias], dy, self.outputs, true)?;
        // dW[Cout, k·k·Cin] = dy[P, Cout]ᵀ · patches[P, k·k·Cin], then back to PyTorch's order
        let s = self.patches(tape.grid);
        let mut d_weight = be.scratch(self.outputs * s.cols())?;
        be.patch_gemm_weight_grad(&mut d_weight, dy, x, &tape.sources, s)?;
        self.add_weight_grad(be, grads, d_weight)
    }

    /// Adds dW and db to the gradients, and returns dx `[N·H·W, Cin]`.
    pub fn backward(
        &self,
        be: &B,
        grads: &mut [B::Buf],
        tape: &Conv2dTape<B>,
        x: &B::Buf,
        dy: &B::Buf,
    ) -> Result<B::Buf> {
        let s = self.patches(tape.grid);
        // db and dW as in `weight_grads`; dx[pixels, Cin] = the rows of dy[P, Cout] ·
        // weight[Cout, k·k·Cin] added back where they came from
        let mut d_weight = be.scratch(self.outputs * s.cols())?;
        let dx = be.patch_gemm_grads(
            &mut grads[self.bias],
            &mut d_weight,
            dy,
            x,
            &tape.weight,
            &tape.sources,
            s,
        )?;
        self.add_weight_grad(be, grads, d_weight)?;
        Ok(dx)
    }

    /// `d_weight` `[Cout, k·k·Cin]` added to the weight's gradient in PyTorch's order.
    fn add_weight_grad(&self, be: &B, grads: &mut [B::Buf], d_weight: B::Buf) -> Result<()> {
        let done = be.scatter_add_rows(&mut grads[self.weight], &d_weight, &self.permutation, 1);
        be.release(d_weight);
        done
    }
}
