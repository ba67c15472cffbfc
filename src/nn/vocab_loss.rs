//! Cross-entropy over a vocabulary: rows of `[N, V]` logits (V 10 000 for PTB) in parallel,
//! summed in an order that does not depend on scheduling, and the gradient in place with the
//! decoder bias's gradient taken on the way.

use crate::kernels::fastmath;
use rayon::prelude::*;

/// Sums per-row losses in row order (a parallel `sum` would add them in a work-stealing order).
fn ordered_mean(losses: Vec<f64>) -> f64 {
    losses.iter().sum::<f64>() / losses.len().max(1) as f64
}

/// Mean cross-entropy over rows of `[N, V]` logits (rows in parallel).
pub fn softmax_cross_entropy(logits: &[f32], targets: &[u32], v: usize) -> f64 {
    let losses: Vec<f64> = logits
        .par_chunks_exact(v)
        .zip(targets.par_iter())
        .map(|(row, &y)| {
            let max = fastmath::max(row);
            let mut exps = row.to_vec();
            let sum = fastmath::exp_shifted_sum(&mut exps, max);
            (max + sum.ln() - row[y as usize]) as f64
        })
        .collect();
    ordered_mean(losses)
}

/// Rows per block of [`softmax_cross_entropy_grad`]'s column sums.
const SUM_BLOCK: usize = 16;

/// Mean cross-entropy, replacing the logits by d loss/d logits = (softmax − onehot)/N in place;
/// also returns that gradient's column sums `[V]` (the decoder bias's gradient).
///
/// Blocks of 16 rows run in parallel (44 at T 35, B 20: even work for two threads), each summing
/// its rows as it finishes them, while they are still in cache (a second pass over a `bench
/// lstm` step's 28 MB took 1.5 ms); the blocks' partial sums are then added in block order, so
/// the result does not depend on how rayon split the work (a parallel `reduce` combines
/// partials in a tree shaped by work stealing, which changed the last bits of the bias gradient
/// from run to run).
pub fn softmax_cross_entropy_grad(logits: &mut [f32], targets: &[u32], v: usize) -> (f64, Vec<f32>) {
    let n = targets.len() as f32;
    let blocks: Vec<(Vec<f64>, Vec<f32>)> = logits
        .par_chunks_mut(v * SUM_BLOCK)
        .zip(targets.par_chunks(SUM_BLOCK))
        .map(|(block, ys)| {
            let mut sums = vec![0f32; v];
            let losses = block
                .chunks_exact_mut(v)
                .zip(ys)
                .map(|(row, &y)| {
                    let max = fastmath::max(row);
                    let target_logit = row[y as usize];
                    let sum = fastmath::exp_shifted_sum(row, max);
                    let loss = (max + sum.ln() - target_logit) as f64;
                    let scale = 1.0 / (sum * n);
                    row.iter_mut().for_each(|x| *x *= scale);
                    row[y as usize] -= 1.0 / n;
                    sums.iter_mut().zip(row.iter()).for_each(|(s, x)| *s += x);
                    loss
                })
                .collect();
            (losses, sums)
        })
        .collect();
    let mut column_sums = vec![0f32; v];
    for (_, part) in &blocks {
        column_sums.iter_mut().zip(part).for_each(|(x, y)| *x += y);
    }
    let losses = blocks.into_iter().flat_map(|(losses, _)| losses).collect();
    (ordered_mean(losses), column_sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many blocks of rows on a 4-thread pool again and again: always the same loss and column
    /// sums, the latter with the bits of adding the gradient's blocks' partial sums in
    /// order.
    #[test]
    fn softmax_gradient_sums_do_not_depend_on_scheduling() {
        let (rows, v) = (SUM_BLOCK * 11 + 5, 37);
        let logits: Vec<f32> = (0..rows * v)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-2)
            .collect();
        let targets: Vec<u32> = (0..rows).map(|i| (i * 13 % v) as u32).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let run = || {
            let mut grad = logits.clone();
            let (loss, sums) = pool.install(|| softmax_cross_entropy_grad(&mut grad, &targets, v));
            (loss.to_bits(), sums, grad)
        };
        let (loss, sums, grad) = run();
        let mut want = vec![0f32; v];
        for block in grad.chunks(SUM_BLOCK * v) {
            let mut part = vec![0f32; v];
            for row in block.chunks_exact(v) {
                part.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            want.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
        }
        assert_eq!(sums, want);
        let eval = softmax_cross_entropy(&logits, &targets, v);
        assert!(
            (f64::from_bits(loss) - eval).abs() < 1e-6,
            "{} vs {eval}",
            f64::from_bits(loss)
        );
        for _ in 0..30 {
            assert_eq!(run(), (loss, sums.clone(), grad.clone()));
        }
    }
}
