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

use super::layers::DenseWeights;
use crate::nn::matmul::matmul_view;
use crate::nn::view::View;

pub struct WordEntityScores {
    /// `w2e_query.weight`, `[H out, H in]` as the checkpoint stores it.
    weight: Vec<f32>,
    bias: Vec<f32>,
    heads: usize,
    head_size: usize,
}

impl WordEntityScores {
    pub fn new(w2e_query: DenseWeights, heads: usize) -> Self {
        let (weight, bias, inputs, outputs) = w2e_query.into_parts();
        assert_eq!(inputs, outputs, "w2e_query must be square");
        Self {
            bias: bias.unwrap_or_else(|| vec![0.0; outputs]),
            weight,
            heads,
            head_size: outputs / heads,
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

    /// One sequence's scores before the `1/√d` scale: `words` `[W, H]`, `keys` its entities'
    /// keys `[N, H]` → `[W, heads·N]`, column `head·N + e` for head `head` and entity `e`.
    pub fn scores(&self, words: View, keys: View) -> Vec<f32> {
        let (w, n, h) = (words.rows, keys.rows, self.hidden());
        assert_eq!(words.cols, h, "word rows of width {} for hidden {h}", words.cols);
        assert_eq!(keys.cols, h, "entity keys of width {} for hidden {h}", keys.cols);
        if n == 0 {
            return Vec::new();
        }
        if self.folds(w, n) {
            self.folded(words, keys)
        } else {
            self.projected(words, keys)
        }
    }

    /// `x·(W_hᵀ·k) + b_h·k` for every head and key.
    fn folded(&self, words: View, keys: View) -> Vec<f32> {
        let (w, n, h, d) = (words.rows, keys.rows, self.hidden(), self.head_size);
        // folded[head·N + e, :] = Σ_{j in head} k[e, j]·W[j, :]  — [heads·N, H]
        let mut folded = vec![0f32; self.heads * n * h];
        let mut key_bias = vec![0f32; self.heads * n];
        for head in 0..self.heads {
            let head_keys = keys.columns(head * d, d);
            let head_weight = View::row_major(&self.weight[head * d * h..(head + 1) * d * h], d, h);
            matmul_view(&mut folded, head * n * h, h, head_keys, head_weight, false);
            for e in 0..n {
                key_bias[head * n + e] = (0..d)
                    .map(|j| {
                        self.bias[head * d + j]
                            * head_keys.data[head_keys.offset + e * keys.row_stride + j * keys.col_stride]
                    })
                    .sum();
            }
        }
        // scores[W, heads·N] = words[W, H] · foldedᵀ
        let mut scores = vec![0f32; w * self.heads * n];
        let folded_t = View::row_major(&folded, self.heads * n, h).t();
        matmul_view(&mut scores, 0, self.heads * n, words, folded_t, false);
        for row in scores.chunks_exact_mut(self.heads * n) {
            row.iter_mut().zip(&key_bias).for_each(|(s, b)| *s += b);
        }
        scores
    }

    /// `(W_h·x + b_h)·k`, projecting every word: cheaper when entities are about as many as words.
    fn projected(&self, words: View, keys: View) -> Vec<f32> {
        let (w, n, h, d) = (words.rows, keys.rows, self.hidden(), self.head_size);
        // queries[W, H] = words · Wᵀ + b
        let mut queries: Vec<f32> = (0..w).flat_map(|_| self.bias.iter().copied()).collect();
        let weight_t = View::row_major(&self.weight, h, h).t();
        matmul_view(&mut queries, 0, h, words, weight_t, true);
        let mut scores = vec![0f32; w * self.heads * n];
        for head in 0..self.heads {
            let head_queries = View::row_major(&queries, w, h).columns(head * d, d);
            let head_keys = keys.columns(head * d, d);
            matmul_view(
                &mut scores,
                head * n,
                self.heads * n,
                head_queries,
                head_keys.t(),
                false,
            );
        }
        scores
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
        WordEntityScores {
            weight: values(h * h, 1),
            bias: values(h, 2),
            heads,
            head_size: h / heads,
        }
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

    #[test]
    fn folding_and_projecting_both_give_the_definition() {
        let (h, heads) = (24, 3);
        let s = scorer(h, heads);
        for (w, n) in [(9, 2), (5, 40), (1, 1), (3, 0)] {
            let (words, keys) = (values(w * h, 3), values(n * h, 4));
            let want = naive(&s, &words, &keys, w, n);
            let (wv, kv) = (View::row_major(&words, w, h), View::row_major(&keys, n, h));
            assert_eq!(s.scores(wv, kv).len(), w * heads * n);
            if n == 0 {
                continue;
            }
            for (name, got) in [("folded", s.folded(wv, kv)), ("projected", s.projected(wv, kv))] {
                for (g, x) in got.iter().zip(&want) {
                    assert!(
                        (*g as f64 - x).abs() < 1e-4 * (1.0 + x.abs()),
                        "{name} {w}×{n}: {g} vs {x}"
                    );
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
        let got = s.scores(View::row_major(&words, w, h), strided);
        let want = s.scores(View::row_major(&words, w, h), View::row_major(&keys, n, h));
        assert_eq!(got, want);
    }
}
