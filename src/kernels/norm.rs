//! The joint L2 norm of many gradients and `clip_grad_norm_`'s factor, as the CPU computes them
//! for the language model's SGD step.

use crate::kernels::fastmath::widest_vectors;
use rayon::prelude::*;

/// Gradients are read in blocks of this many values, in parallel: the norm adds each block's
/// sum of squares in block order, so it does not depend on the thread count. The serial f64
/// sum had taken ~20 ms of a `bench lstm` step (13 M gradients, one add per 4 cycles).
const BLOCK: usize = 1 << 16;

/// The joint L2 norm of `grads`: each one cut into blocks, each block's Σ g² in f64, the block
/// sums added in order.
pub fn global_norm<'a>(grads: impl IntoIterator<Item = &'a [f32]>) -> f32 {
    let blocks: Vec<&[f32]> = grads.into_iter().flat_map(|g| g.chunks(BLOCK)).collect();
    // one block (a small model) stays on this thread: handing it to the pool costs more
    let block_sums: Vec<f64> = if blocks.len() > 1 {
        blocks.into_par_iter().map(sum_of_squares).collect()
    } else {
        blocks.into_iter().map(sum_of_squares).collect()
    };
    block_sums.iter().sum::<f64>().sqrt() as f32
}

/// What `clip_grad_norm_(max_norm)` multiplies gradients of joint norm `norm` by: 1 when they
/// are within the bound. The SGD step applies it as it reads each gradient
/// ([`crate::kernels::sgd::SgdStep::grad_scale`]) instead of a pass that rewrites them all: on
/// the BetterRnnlm-sized model (13 M gradients) that pass took ~2.5 ms of a 0.37 s `bench lstm`
/// step.
pub fn clip_factor(norm: f32, max_norm: f32) -> f32 {
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        scale
    } else {
        1.0
    }
}

widest_vectors! {
    /// Σ g² in f64 with sixteen interleaved accumulators, so the loop vectorises and four AVX2
    /// additions are in flight at once (with eight, the sum waited on the adds' latency: the
    /// norm of the BetterRnnlm-sized model's 13 M gradients took ~2.5 ms of a `bench lstm`
    /// step). Each accumulator adds its values in the same order on every build.
    fn sum_of_squares(block: &[f32]) -> f64 = sum_of_squares_body;
}

#[inline(always)]
fn sum_of_squares_body(block: &[f32]) -> f64 {
    let mut acc = [0f64; 16];
    let mut chunks = block.chunks_exact(16);
    for c in &mut chunks {
        for (a, g) in acc.iter_mut().zip(c) {
            *a += (*g as f64) * (*g as f64);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|g| (*g as f64) * (*g as f64)).sum();
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_factor_bounds_the_norm() {
        let norm = global_norm([&[3.0f32, 0.0][..], &[4.0]]);
        assert_eq!(norm, 5.0);
        assert_eq!(clip_factor(norm, 10.0), 1.0);
        assert!((clip_factor(norm, 1.0) - 0.2).abs() < 1e-6);
    }

    #[test]
    fn norm_does_not_depend_on_the_thread_count() {
        let w: Vec<f32> = (0..5 * (BLOCK / 2 + 3))
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1e-3)
            .collect();
        let b = [0.5f32; 7];
        let norm = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| global_norm([&w[..], &b[..]])).to_bits()
        };
        assert!(f32::from_bits(norm(1)) > 1.0);
        assert_eq!(norm(1), norm(4));
    }
}
