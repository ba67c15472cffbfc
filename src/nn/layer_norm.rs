//! LayerNorm over the last dimension of `[rows, size]` f32 blocks (biased variance, as
//! PyTorch), its statistics in f64.

use crate::kernels::fastmath::widest_vectors;
use rayon::prelude::*;

/// Normalises every row of `x` `[rows, size]` in place: `(x − mean)/√(var + eps)·weight + bias`,
/// `size` being `weight.len()`.
pub fn layer_norm(x: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    x.par_chunks_exact_mut(weight.len())
        .for_each(|row| layer_norm_row(row, weight, bias, eps as f64));
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

#[cfg(test)]
mod tests {
    use super::*;

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
