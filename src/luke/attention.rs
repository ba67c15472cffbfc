//! LUKE's entity-aware self-attention. Keys and values are shared by words and entities, but
//! the query depends on the pair: word→word (`query`), word→entity (`w2e_query`),
//! entity→word (`e2w_query`), entity→entity (`e2e_query`). With `use_entity_aware_attention`
//! off, or no entities, every pair uses `query` and this is RoBERTa's attention.
//!
//! Each row group (words, entities) is projected by one stacked GEMM to
//! `[rows, q→words | q→entities | k | v]`; attention then runs per (sequence, head) on strided
//! views of those blocks.

use super::batch::Batch;
use super::config::LukeConfig;
use super::layers::{Dense, LayerNorm};
use super::weights::Weights;
use crate::nn::fastmath;
use crate::nn::matmul::{matmul_view, View};
use anyhow::Result;
use rayon::prelude::*;

pub struct SelfAttention {
    /// Word rows → `[q_w2w | q_w2e | k | v]`, each `H` wide (`q_w2e` = `q_w2w` when not aware).
    word_proj: Dense,
    /// Entity rows → `[q_e2w | q_e2e | k | v]`.
    entity_proj: Dense,
    output: Dense,
    norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

/// One row group's projections `[B·rows, 4H]` and how many rows each sequence has.
struct Projected<'a> {
    data: &'a [f32],
    rows: usize,
}

impl SelfAttention {
    pub fn load(w: &mut Weights, prefix: &str, c: &LukeConfig) -> Result<Self> {
        let h = c.hidden_size;
        let dense = |w: &mut Weights, name: &str| Dense::load(w, &format!("{prefix}.self.{name}"), h, h, true);
        let (query, key, value) = (dense(w, "query")?, dense(w, "key")?, dense(w, "value")?);
        let (word_proj, entity_proj) = if c.use_entity_aware_attention {
            let (w2e, e2w, e2e) = (dense(w, "w2e_query")?, dense(w, "e2w_query")?, dense(w, "e2e_query")?);
            (
                Dense::concat(&[&query, &w2e, &key, &value]),
                Dense::concat(&[&e2w, &e2e, &key, &value]),
            )
        } else {
            let shared = Dense::concat(&[&query, &query, &key, &value]);
            (shared.clone(), shared)
        };
        Ok(Self {
            word_proj,
            entity_proj,
            output: Dense::load(w, &format!("{prefix}.output.dense"), h, h, true)?,
            norm: LayerNorm::load(w, &format!("{prefix}.output.LayerNorm"), h, c.layer_norm_eps)?,
            heads: c.num_attention_heads,
            head_size: c.head_size(),
        })
    }

    /// Words `[B, W, H]` and entities `[B, N, H]` → attention outputs after the residual
    /// LayerNorm, same shapes.
    pub fn forward(&self, words: &[f32], entities: &[f32], batch: &Batch) -> (Vec<f32>, Vec<f32>) {
        let (bsz, nw, ne) = (batch.size, batch.words, batch.entities);
        let h = self.heads * self.head_size;
        let word_proj = self.word_proj.forward(words, bsz * nw); // [B·W, 4H]
        let entity_proj = self.entity_proj.forward(entities, bsz * ne); // [B·N, 4H]
        let groups = [
            Projected {
                data: &word_proj,
                rows: nw,
            },
            Projected {
                data: &entity_proj,
                rows: ne,
            },
        ];
        // Context per (sequence, head): [W + N, d].
        let contexts: Vec<Vec<f32>> = (0..bsz * self.heads)
            .into_par_iter()
            .map(|task| self.attend(&groups, batch, task / self.heads, task % self.heads))
            .collect();
        let mut word_ctx = vec![0f32; bsz * nw * h];
        let mut entity_ctx = vec![0f32; bsz * ne * h];
        let d = self.head_size;
        for (task, ctx) in contexts.iter().enumerate() {
            let (b, head) = (task / self.heads, task % self.heads);
            for (r, row) in ctx.chunks_exact(d).enumerate() {
                let dst = if r < nw {
                    &mut word_ctx[(b * nw + r) * h + head * d..][..d]
                } else {
                    &mut entity_ctx[(b * ne + r - nw) * h + head * d..][..d]
                };
                dst.copy_from_slice(row);
            }
        }
        let finish = |ctx: &[f32], input: &[f32], rows: usize| {
            let mut out = self.output.forward(ctx, rows);
            super::layers::add_into(&mut out, input);
            self.norm.forward(&mut out);
            out
        };
        (
            finish(&word_ctx, words, bsz * nw),
            finish(&entity_ctx, entities, bsz * ne),
        )
    }

    /// Softmax attention of sequence `b`, head `head`: returns its context rows `[W + N, d]`.
    fn attend(&self, groups: &[Projected; 2], batch: &Batch, b: usize, head: usize) -> Vec<f32> {
        let d = self.head_size;
        let h = self.heads * d;
        let width = 4 * h;
        let keys = batch.words + batch.entities;
        // Column offset of block `k` (0 = q→words, 1 = q→entities, 2 = key, 3 = value) for this head.
        let col = |block: usize| block * h + head * d;
        fn view<'a>(g: &Projected<'a>, b: usize, offset: usize, d: usize, width: usize) -> View<'a> {
            View {
                data: g.data,
                offset: b * g.rows * width + offset,
                rows: g.rows,
                cols: d,
                row_stride: width,
                col_stride: 1,
            }
        }
        let mut scores = vec![0f32; keys * keys];
        let mut row0 = 0;
        for queries in groups {
            let mut key0 = 0;
            for (target, keyed) in groups.iter().enumerate() {
                // scores[queries, keyed] = Q(queries → target group) · K(keyed)ᵀ
                let q = view(queries, b, col(target), d, width);
                let k = view(keyed, b, col(2), d, width).t();
                matmul_view(&mut scores, row0 * keys + key0, keys, q, k, false);
                key0 += keyed.rows;
            }
            row0 += queries.rows;
        }
        let scale = 1.0 / (d as f32).sqrt();
        let mask: Vec<bool> = batch.word_mask[b * batch.words..][..batch.words]
            .iter()
            .chain(&batch.entity_mask[b * batch.entities..][..batch.entities])
            .copied()
            .collect();
        for row in scores.chunks_exact_mut(keys.max(1)).take(keys) {
            for (s, &m) in row.iter_mut().zip(&mask) {
                *s = if m { *s * scale } else { f32::NEG_INFINITY };
            }
            let max = fastmath::max(row);
            let sum = fastmath::exp_shifted_sum(row, max);
            row.iter_mut().for_each(|s| *s /= sum);
        }
        let mut ctx = vec![0f32; keys * d];
        let probs = |key0: usize, n: usize| View {
            data: &scores,
            offset: key0,
            rows: keys,
            cols: n,
            row_stride: keys,
            col_stride: 1,
        };
        matmul_view(
            &mut ctx,
            0,
            d,
            probs(0, batch.words),
            view(&groups[0], b, col(3), d, width),
            false,
        );
        matmul_view(
            &mut ctx,
            0,
            d,
            probs(batch.words, batch.entities),
            view(&groups[1], b, col(3), d, width),
            true,
        );
        ctx
    }
}
