//! Batches of texts of similar length, in a seeded order: each epoch shuffles the texts, sorts
//! runs of 50 batches by length and shuffles the batches. A batch is padded only to its own
//! longest text, so on these short texts most of the padding (and the time it costs) goes;
//! the results do not depend on padding (it comes after each text's end).

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Batches sorted within runs of this many.
const RUN: usize = 50;

/// Text indices grouped into batches of at most `batch`, drawn from `rng`.
pub fn bucketed(lengths: &[usize], batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    for run in order.chunks_mut(RUN * batch) {
        run.sort_by_key(|&i| lengths[i]);
        batches.extend(run.chunks(batch).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// Batches in the given order, for evaluation (sorted by length, so padding stays small).
pub fn in_order(lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch).map(<[usize]>::to_vec).collect()
}

/// Language-model rows of a batch of texts: inputs `x[..n-1]` and targets `x[1..]`, each text
/// padded with 0 after its end, time-major `[T, B]`; `T` is the longest input.
pub fn next_word_rows(texts: &[&[u32]]) -> (Vec<u32>, Vec<u32>, usize) {
    let batch = texts.len();
    let steps = texts.iter().map(|t| t.len().saturating_sub(1)).max().unwrap_or(0);
    let (mut tokens, mut targets) = (vec![0; steps * batch], vec![0; steps * batch]);
    for (b, t) in texts.iter().enumerate() {
        for i in 0..t.len().saturating_sub(1) {
            tokens[i * batch + b] = t[i];
            targets[i * batch + b] = t[i + 1];
        }
    }
    (tokens, targets, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_text_once_similar_lengths_together_and_seeded() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 37) % 50 + 1).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let batches = bucketed(&lengths, 8, &mut rng);
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let spread: usize = batches
            .iter()
            .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap() - b.iter().map(|&i| lengths[i]).min().unwrap())
            .sum();
        assert!(spread < batches.len() * 5, "batches mix lengths: {spread}");
        assert_eq!(bucketed(&lengths, 8, &mut ChaCha8Rng::seed_from_u64(3)), batches);
    }

    #[test]
    fn next_word_rows_pad_after_each_text() {
        let (tokens, targets, steps) = next_word_rows(&[&[5, 6, 7], &[8, 9]]);
        assert_eq!(steps, 2);
        assert_eq!(tokens, [5, 8, 6, 0]);
        assert_eq!(targets, [6, 9, 7, 0]);
    }
}
