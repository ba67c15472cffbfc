//! The row-wise pieces of a transformer layer on `[rows, features]` f32 blocks: dense
//! projections with PyTorch's `[out, in]` weights, LayerNorm, and the activations.

use super::config::Activation;
use super::weights::Weights;
use crate::kernels::fastmath::{self, widest_vectors};
use crate::kernels::matmul::{FixedB, Layout};
use crate::kernels::recycle::overwritable;
use anyhow::Result;
use rayon::prelude::*;

/// A dense layer's tensors as the checkpoint stores them (`W` `[out, in]`), before packing.
pub struct DenseWeights {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl DenseWeights {
    pub fn load(w: &mut Weights, prefix: &str, inputs: usize, outputs: usize, bias: bool) -> Result<Self> {
        let weight = w.take(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let bias = if bias {
            Some(w.take(&format!("{prefix}.bias"), &[outputs])?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            inputs,
            outputs,
        })
    }

    /// Stacks projections of the same input into one (their outputs side by side), so one GEMM
    /// computes them all.
    pub fn concat(parts: &[&DenseWeights]) -> Self {
        let inputs = parts[0].inputs;
        assert!(parts.iter().all(|p| p.inputs == inputs));
        Self {
            weight: parts.iter().flat_map(|p| p.weight.iter().copied()).collect(),
            bias: Some(
                parts
                    .iter()
                    .flat_map(|p| p.bias.clone().unwrap_or_else(|| vec![0.0; p.outputs]))
                    .collect(),
            ),
            inputs,
            outputs: parts.iter().map(|p| p.outputs).sum(),
        }
    }

    /// `(weight [out, in], bias, inputs, outputs)`, for code that uses the weight other than as a
    /// projection.
    pub fn into_parts(self) -> (Vec<f32>, Option<Vec<f32>>, usize, usize) {
        (self.weight, self.bias, self.inputs, self.outputs)
    }

    /// The layer ready to run, its weight packed once for every product it will take part in.
    pub fn pack(self) -> Dense {
        Dense {
            weight: FixedB::new(&self.weight, Layout::Transposed, self.inputs, self.outputs),
            bias: self.bias,
            outputs: self.outputs,
        }
    }
}

/// `y = x·Wᵀ + b`.
pub struct Dense {
    weight: FixedB,
    bias: Option<Vec<f32>>,
    outputs: usize,
}

impl Dense {
    pub fn load(w: &mut Weights, prefix: &str, inputs: usize, outputs: usize, bias: bool) -> Result<Self> {
        Ok(DenseWeights::load(w, prefix, inputs, outputs, bias)?.pack())
    }

    /// x `[rows, in]` → `[rows, out]`, into a block from the buffer pool (`kernels::recycle`;
    /// every value of it is written).
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = overwritable(rows * self.outputs);
        self.weight.affine(&mut y, x, rows, self.bias.as_deref());
        y
    }
}

/// LayerNorm over the last dimension (biased variance, as PyTorch).
pub struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    pub fn load(w: &mut Weights, prefix: &str, size: usize, eps: f32) -> Result<Self> {
        Ok(Self {
            weight: w.take(&format!("{prefix}.weight"), &[size])?,
            bias: w.take(&format!("{prefix}.bias"), &[size])?,
            eps,
        })
    }

    /// Normalises every row of `x` `[rows, size]` in place.
    pub fn forward(&self, x: &mut [f32]) {
        let size = self.weight.len();
        x.par_chunks_exact_mut(size)
            .for_each(|row| layer_norm_row(row, &self.weight, &self.bias, self.eps as f64));
    }
}

widest_vectors! {
    /// One row's LayerNorm: mean and variance in f64 (eight partial sums, so the loops
    /// vectorise), then `(x − mean)/√(var + eps)·g + b`.
    fn layer_norm_row(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f64) = layer_norm_row_body;
}

#[inline(always)]
fn layer_norm_row_body(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f64) {
    let n = row.len();
    let (weight, bias) = (&weight[..n], &bias[..n]);
    let mean = sum_of(row, |v| v as f64) / n as f64;
    let var = sum_of(row, |v| (v as f64 - mean) * (v as f64 - mean)) / n as f64;
    let inv = 1.0 / (var + eps).sqrt();
    for j in 0..n {
        row[j] = ((row[j] as f64 - mean) * inv) as f32 * weight[j] + bias[j];
    }
}

/// `Σ f(v)` over `row` in f64, with eight partial sums so the loop vectorises.
#[inline(always)]
fn sum_of(row: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    chunks.remainder().iter().map(|&v| f(v)).sum::<f64>() + acc.iter().sum::<f64>()
}

/// Applies the feed-forward activation in place.
pub fn activate(x: &mut [f32], act: Activation) {
    x.par_chunks_mut(4096).for_each(|chunk| match act {
        Activation::Gelu => gelu(chunk),
        Activation::GeluTanh => gelu_tanh(chunk),
        Activation::Relu => chunk.iter_mut().for_each(|v| *v = v.max(0.0)),
    });
}

widest_vectors! {
    /// GELU with the exact erf, as `nn.GELU()`.
    fn gelu(xs: &mut [f32]) = gelu_body;
}

#[inline(always)]
fn gelu_body(xs: &mut [f32]) {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for v in xs.iter_mut() {
        *v = 0.5 * *v * (1.0 + fastmath::erf(*v * SQRT_HALF));
    }
}

widest_vectors! {
    /// GELU's tanh approximation, as `gelu_new`.
    fn gelu_tanh(xs: &mut [f32]) = gelu_tanh_body;
}

#[inline(always)]
fn gelu_tanh_body(xs: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in xs.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + fastmath::tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    }
}

/// `x += y` elementwise (residual connections).
pub fn add_into(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched activations (AVX-512 or AVX2 where the CPU has them) equal the baseline bit for
    /// bit, and GELU stays within 1e-6 of its f64 definition.
    #[test]
    fn activations_equal_the_baseline_and_the_definition() {
        let xs: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) / 61.0).collect();
        for (name, dispatched, baseline) in [
            ("gelu", gelu as fn(&mut [f32]), gelu_body as fn(&mut [f32])),
            ("gelu_tanh", gelu_tanh, gelu_tanh_body),
        ] {
            let (mut a, mut b) = (xs.clone(), xs.clone());
            dispatched(&mut a);
            baseline(&mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name}");
        }
        let mut exact = xs.clone();
        activate(&mut exact, Activation::Gelu);
        for (x, g) in xs.iter().zip(&exact) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            assert!((*g as f64 - want).abs() < 1e-6 * (1.0 + want.abs()), "gelu({x})");
        }
    }

    /// LayerNorm's dispatched build equals its baseline bit for bit and the f64 definition to
    /// f32 rounding, on a width with a ragged tail of lanes.
    #[test]
    fn layer_norm_rows_equal_the_baseline_and_the_definition() {
        let n = 45;
        let row: Vec<f32> = (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0 + 5.0).collect();
        let weight: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 / 50.0).collect();
        let bias: Vec<f32> = (0..n).map(|i| i as f32 / 100.0 - 0.2).collect();
        let (mut a, mut b) = (row.clone(), row.clone());
        layer_norm_row(&mut a, &weight, &bias, 1e-5);
        layer_norm_row_body(&mut b, &weight, &bias, 1e-5);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        for j in 0..n {
            let want = (row[j] as f64 - mean) / (var + 1e-5).sqrt() * weight[j] as f64 + bias[j] as f64;
            assert!((a[j] as f64 - want).abs() < 1e-6, "column {j}: {} vs {want}", a[j]);
        }
    }
}
