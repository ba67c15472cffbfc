//! ReLU in place, and the masks of inverted dropout drawn on the host from a seeded stream.

use crate::kernels::fastmath::widest_vectors;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

widest_vectors! {
    /// x ← max(x, 0); the backward mask is `x > 0` of the output.
    pub fn relu(x: &mut [f32]) = relu_body;
}

#[inline(always)]
fn relu_body(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

widest_vectors! {
    /// dy ← dy · [y > 0], where `y` is the ReLU output.
    pub fn relu_backward(dy: &mut [f32], y: &[f32]) = relu_backward_body;
}

#[inline(always)]
fn relu_backward_body(dy: &mut [f32], y: &[f32]) {
    // a select, not a branch, so the loop vectorises (it was a compare and jump per value)
    for (d, v) in dy.iter_mut().zip(y) {
        *d = if *v <= 0.0 { 0.0 } else { *d };
    }
}

/// The inverted-dropout mask for `len` values: 0 with probability `p`, else 1/(1−p), one
/// draw per value in order.
pub fn dropout_mask(len: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    (0..len)
        .map(|_| if rng.gen::<f32>() < p { 0.0 } else { scale })
        .collect()
}

/// Values per parallel block of [`dropout_mask_chacha`].
const DROPOUT_BLOCK: usize = 1 << 14;

/// Random words drawn at once per block of [`dropout_mask_chacha`] (4 KiB on the stack).
const WORDS_AT_ONCE: usize = 1024;

/// [`dropout_mask`] on a ChaCha stream, drawn in parallel blocks: value `i` takes the stream's
/// word `start + i` whichever thread draws it (ChaCha seeks to any word), so the mask and the
/// stream's position afterwards are those of the sequential [`dropout_mask`] bit for bit. The
/// language model's three dropouts of a `bench lstm` step (455k values each) had taken 15 ms of
/// a 0.41 s step on one thread, the other waiting.
///
/// Each block fills a buffer of words and turns them into uniforms as `gen::<f32>` does (the
/// top 24 bits × 2⁻²⁴), so the comparison vectorises without a branch: drawn one `gen` at a
/// time, a branch taken half the time at p = 0.5, two dropouts took 4.7 ms of a step.
pub fn dropout_mask_chacha(len: usize, p: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    let start = rng.get_word_pos();
    let mut mask = vec![0f32; len];
    let from = &*rng;
    mask.par_chunks_mut(DROPOUT_BLOCK)
        .enumerate()
        .for_each(|(block, mask)| {
            let mut r = from.clone();
            r.set_word_pos(start + (block * DROPOUT_BLOCK) as u128);
            let mut words = [0u32; WORDS_AT_ONCE];
            for mask in mask.chunks_mut(WORDS_AT_ONCE) {
                let words = &mut words[..mask.len()];
                // the stream's next words in order, as `next_u32` would give them
                r.fill(words);
                mask_by_words(words, p, scale, mask);
            }
        });
    rng.set_word_pos(start + len as u128);
    mask
}

widest_vectors! {
    /// One block of [`dropout_mask_chacha`]: word `i` decides value `i`.
    fn mask_by_words(words: &[u32], p: f32, scale: f32, mask: &mut [f32]) = mask_by_words_body;
}

#[inline(always)]
fn mask_by_words_body(words: &[u32], p: f32, scale: f32, mask: &mut [f32]) {
    for (m, w) in mask.iter_mut().zip(words) {
        // `gen::<f32>`'s uniform; through i32 (exact below 2²⁴) because x86 has no vector
        // conversion from unsigned integers before AVX-512
        let uniform = (w >> 8) as i32 as f32 * (1.0 / (1u32 << 24) as f32);
        *m = if uniform < p { 0.0 } else { scale };
    }
}

/// The mask of variational ("locked") dropout over a time-major `[T·B, width]` block of `len`
/// values: one draw per (sequence, feature), the same at every time step (Gal & Ghahramani
/// 2016).
pub fn locked_mask(len: usize, batch: usize, width: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    let step = dropout_mask(batch * width, p, rng);
    (0..len).map(|i| step[i % step.len()]).collect()
}

/// The mask of embedding dropout over the rows `[tokens, width]` of `tokens`' embeddings: one
/// draw per word of a `vocab`-word table, so every occurrence of a dropped word is zeroed for
/// this batch (Merity et al. 2017).
pub fn word_mask(tokens: &[u32], vocab: usize, width: usize, p: f32, rng: &mut impl Rng) -> Vec<f32> {
    let keep = dropout_mask(vocab, p, rng);
    tokens
        .iter()
        .flat_map(|&t| std::iter::repeat_n(keep[t as usize], width))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The parallel draw equals the sequential one: the mask and where the stream is left
    /// (the next draw), on lengths around the block size.
    #[test]
    fn chacha_mask_equals_the_sequential_mask() {
        for len in [0, 1, 1000, DROPOUT_BLOCK, 3 * DROPOUT_BLOCK + 17] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
            rng.set_stream(2);
            let _: u32 = rng.gen(); // a stream not at a block boundary
            let mut other = rng.clone();
            let (ma, mb) = (
                dropout_mask(len, 0.3, &mut rng),
                dropout_mask_chacha(len, 0.3, &mut other),
            );
            assert_eq!(ma, mb, "mask, length {len}");
            assert_eq!(rng.gen::<u64>(), other.gen::<u64>(), "stream position, length {len}");
        }
    }

    #[test]
    fn locked_mask_repeats_every_step_and_word_mask_every_occurrence() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (steps, batch, width) = (4, 3, 5);
        let mask = locked_mask(steps * batch * width, batch, width, 0.5, &mut rng);
        for t in 1..steps {
            assert_eq!(mask[..batch * width], mask[t * batch * width..(t + 1) * batch * width]);
        }
        assert!(mask.contains(&0.0) && mask.contains(&2.0));
        let tokens = [0u32, 1, 0, 2, 1, 0];
        let m = word_mask(&tokens, 3, 2, 0.5, &mut rng);
        for (i, &t) in tokens.iter().enumerate() {
            let first = tokens.iter().position(|&u| u == t).unwrap();
            assert_eq!(m[2 * i..2 * i + 2], m[2 * first..2 * first + 2]);
            assert_eq!(m[2 * i], m[2 * i + 1]);
        }
    }
}
