//! Word→entity attention scores, usually without projecting any word's `w2e_query`.
//!
//! For one head, with `W_h` its rows of `w2e_query.weight` and `b_h` of its bias, a word `x`
//! scores an entity key `k` as `(W_h·x + b_h)·k = x·(W_hᵀ·k) + b_h·k`. Projecting every word
//! costs `W·H²` multiply-adds per sequence (W words, hidden H); folding each entity key into
//! the weight first costs `H²·N + W·H·heads·N` (N entities). At LUKE-base sizes (W 128, N 2,
//! H 768, 12 heads) that is 1.6 M against 75 M multiply-adds per sequence and layer: the
//! projection was one of the eight `H × H` products of every layer. The fold reassociates the
//! same sums, so scores agree with transformers' to float rounding. Where entities are many
//! (N near W), projecting is cheaper and is used instead.
//!
//! The fold runs once per layer for the whole batch, on each head's rows of the weight packed
//! at load: folding per sequence had re-packed those rows for every sequence, 1.5% of a
//! batch-8 LUKE-base forward in `perf` for a product of two rows.

use super::dense::DenseWeights;
use crate::kernels::matmul::{matmul_view, FixedB, Layout};
use crate::kernels::view::View;
use rayon::prelude::*;

pub struct WordEntityScores {
    /// `w2e_query.weight`, `[H out, H in]` as the checkpoint stores it (the projecting path).
    weight: Vec<f32>,
    /// Each head's rows of that weight, `[d, H]`, packed once (the folding path). They double
    /// this one weight's memory, which buys a fold that packs nothing per batch.
    head_weights: Vec<FixedB>,
    bias: Vec<f32>,
    heads: usize,
    head_size: usize,
}

impl WordEntityScores {
    pub fn new(w2e_query: DenseWeights, heads: usize) -> Self {
        let (weight, bias, inputs, outputs) = w2e_query.into_parts();
        assert_eq!(inputs, outputs, "w2e_query must be square");
        Self::from_parts(weight, bias.unwrap_or_else(|| vec![0.0; outputs]), heads)
    }

    fn from_parts(weight: Vec<f32>, bias: Vec<f32>, heads: usize) -> Self {
        let h = bias.len();
        let d = h / heads;
        let head_weights = weight
            .chunks_exact(d * h)
            .map(|rows| FixedB::new(rows, Layout::Plain, d, h))
            .collect();
        Self {
            weight,
            head_weights,
            bias,
            heads,
            head_size: d,
        }
    }

    fn hidden(&self) -> usize {
        self.heads * self.head_size
    }

    /// Whether folding the keys costs fewer multiply-adds than projecting the words.
    fn folds(&self, words: usize, entities: usize) -> bool {
        let h = self.hidden();
        h * h * entities + words * h * self.heads * entities < words * h * h + words * entities * h
    }

    /// Every sequence's scores before the `1/√d` scale: `words` `[S·W, H]` and `keys` `[S·N, H]`,
    /// each sequence's rows together (S `sequences`) → per sequence `[W, heads·N]`, column
    /// `head·N + e` for head `head` and entity `e`.
    pub fn scores(&self, words: View, keys: View, sequences: usize) -> Vec<Vec<f32>> {
        let h = self.hidden();
        assert_eq!(words.cols, h, "word rows of width {} for hidden {h}", words.cols);
        assert_eq!(keys.cols, h, "entity keys of width {} for hidden {h}", keys.cols);
        assert!(
            sequences > 0 && words.rows.is_multiple_of(sequences) && keys.rows.is_multiple_of(sequences),
            "{} word rows and {} keys for {sequences} sequences",
            words.rows,
            keys.rows
        );
        let (w, n) = (words.rows / sequences, keys.rows / sequences);
        if n == 0 {
            return vec![Vec::new(); sequences];
        }
        if self.folds(w, n) {
            self.folded(words, keys, sequences)
        } else {
            self.projected(words, keys, sequences)
        }
    }

    /// `x·(W_hᵀ·k) + b_h·k` for every head and key.
    fn folded(&self, words: View, keys: View, sequences: usize) -> Vec<Vec<f32>> {
        let (m, h, d) = (keys.rows, self.hidden(), self.head_size);
        let (w, n) = (words.rows / sequences, m / sequences);
        // folded[head][b·N + e, :] = Σ_{j in head} k[b·N + e, j]·W[j, :]  — [heads][S·N, H]
        let mut folded = vec![0f32; self.heads * m * h];
        folded
            .par_chunks_exact_mut(m * h)
            .zip(&self.head_weights)
            .enumerate()
            .for_each(|(head, (out, weight))| weight.left_multiply_view(out, keys.columns(head * d, d)));
        (0..sequences)
            .into_par_iter()
            .map(|b| {
                // This sequence's folded keys, [heads·N, H], row head·N + e.
                let own: Vec<f32> = (0..self.heads)
                    .flat_map(|head| &folded[(head * m + b * n) * h..][..n * h])
                    .copied()
                    .collect();
                let seq_keys = keys.row_slice(b * n, n);
                let key_bias: Vec<f32> = (0..self.heads * n)
                    .map(|col| {
                        let (head, e) = (col / n, col % n);
                        let key = seq_keys.row_slice(e, 1).columns(head * d, d);
                        (0..d)
                            .map(|j| self.bias[head * d + j] * key.data[key.offset + j * key.col_stride])
                            .sum()
                    })
                    .collect();
                // scores[W, heads·N] = words · ownᵀ + key_bias
                let mut scores = vec![0f32; w * self.heads * n];
                let own_t = View::row_major(&own, self.heads * n, h).t();
                matmul_view(&mut scores, 0, self.heads * n, words.row_slice(b * w, w), own_t, false);
                for row in scores.chunks_exact_mut(self.heads * n) {
                    row.iter_mut().zip(&key_bias).for_each(|(s, b)| *s += b);
                }
                scores
            })
            .collect()
    }

    /// `(W_h·x + b_h)·k`, projecting every word: cheaper when entities are about as many as words.
    fn projected(&self, words: View, keys: View, sequences: usize) -> Vec<Vec<f32>> {
        let (h, d) = (self.hidden(), self.head_size);
        let (w, n) = (words.rows / sequences, keys.rows / sequences);
        let weight_t = View::row_major(&self.weight, h, h).t();
        // Per sequence, on the pool's threads: `matmul_view` runs on one.
        (0..sequences)
            .into_par_iter()
            .map(|b| {
                // queries[W, H] = words · Wᵀ + b
                let mut queries: Vec<f32> = (0..w).flat_map(|_| self.bias.iter().copied()).collect();
                matmul_view(&mut queries, 0, h, words.row_slice(b * w, w), weight_t, true);
                let seq_queries = View::row_major(&queries, w, h);
                let mut scores = vec![0f32; w * self.heads * n];
                for head in 0..self.heads {
                    let head_keys = keys.row_slice(b * n, n).columns(head * d, d);
                    matmul_view(
                        &mut scores,
                        head * n,
                        self.heads * n,
                        seq_queries.columns(head * d, d),
                        head_keys.t(),
                        false,
                    );
                }
                scores
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 31 + salt * 7) % 53) as f32 / 26.5 - 1.0)
            .collect()
    }

    fn scorer(h: usize, heads: usize) -> WordEntityScores {
        WordEntityScores::from_parts(values(h * h, 1), values(h, 2), heads)
    }

    /// The definition, in f64: `(W_h·x + b_h)·k`.
    fn naive(s: &WordEntityScores, words: &[f32], keys: &[f32], w: usize, n: usize) -> Vec<f64> {
        let (h, d) = (s.hidden(), s.head_size);
        let query = |i: usize, o: usize| {
            s.bias[o] as f64
                + (0..h)
                    .map(|j| s.weight[o * h + j] as f64 * words[i * h + j] as f64)
                    .sum::<f64>()
        };
        let mut out = vec![0f64; w * s.heads * n];
        for i in 0..w {
            for head in 0..s.heads {
                for e in 0..n {
                    out[i * s.heads * n + head * n + e] = (0..d)
                        .map(|j| query(i, head * d + j) * keys[e * h + head * d + j] as f64)
                        .sum();
                }
            }
        }
        out
    }

    /// Both paths, over a batch of sequences, against the definition per sequence.
    #[test]
    fn folding_and_projecting_both_give_the_definition() {
        let (h, heads) = (24, 3);
        let s = scorer(h, heads);
        for (sequences, w, n) in [(1, 9, 2), (3, 9, 2), (2, 5, 40), (1, 1, 1), (2, 3, 0)] {
            let (words, keys) = (values(sequences * w * h, 3), values(sequences * n * h, 4));
            let (wv, kv) = (
                View::row_major(&words, sequences * w, h),
                View::row_major(&keys, sequences * n, h),
            );
            let all = s.scores(wv, kv, sequences);
            assert_eq!(all.len(), sequences);
            if n == 0 {
                assert!(all.iter().all(Vec::is_empty));
                continue;
            }
            for (name, got) in [
                ("folded", s.folded(wv, kv, sequences)),
                ("projected", s.projected(wv, kv, sequences)),
            ] {
                for (b, seq) in got.iter().enumerate() {
                    let want = naive(&s, &words[b * w * h..][..w * h], &keys[b * n * h..][..n * h], w, n);
                    assert_eq!(seq.len(), want.len());
                    for (g, x) in seq.iter().zip(&want) {
                        assert!(
                            (*g as f64 - x).abs() < 1e-4 * (1.0 + x.abs()),
                            "{name} sequence {b} of {sequences}, {w}×{n}: {g} vs {x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn folds_only_when_cheaper() {
        let s = scorer(768, 12);
        assert!(s.folds(128, 2));
        assert!(!s.folds(128, 128));
    }

    /// Keys read through a strided view (as the attention's shared `[k | v]` block holds them).
    #[test]
    fn reads_keys_from_a_wider_block() {
        let (h, heads, w, n) = (16, 2, 4, 3);
        let s = scorer(h, heads);
        let words = values(w * h, 5);
        let block = values(n * 2 * h, 6);
        let keys: Vec<f32> = block.chunks_exact(2 * h).flat_map(|r| r[..h].to_vec()).collect();
        let strided = View {
            data: &block,
            offset: 0,
            rows: n,
            cols: h,
            row_stride: 2 * h,
            col_stride: 1,
        };
        let got = s.scores(View::row_major(&words, w, h), strided, 1);
        let want = s.scores(View::row_major(&words, w, h), View::row_major(&keys, n, h), 1);
        assert_eq!(got, want);
    }
}
