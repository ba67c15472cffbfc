//! LUKE's entity-aware self-attention core on the CPU (what `compute::cpu` runs for
//! `Backend::attend`): every row's context before the output projection. Keys and values are
//! shared by words and entities, but the query depends on the pair: word→word (`query`),
//! word→entity (`w2e_query`), entity→word (`e2w_query`), entity→entity (`e2e_query`). With
//! `use_entity_aware_attention` off, or no entities, every pair uses `query` and this is
//! RoBERTa's attention.
//!
//! The layer works on one stacked block `[B·W + B·N, H]`: every sequence's word rows, then every
//! sequence's entity rows. Keys and values (and, when not entity-aware, the one query) come from
//! one GEMM over all rows, so each weight is read once per layer and not once per row group — at
//! batch 1 the entity rows' products had streamed every weight from memory again for 2 rows.
//! Entity-aware queries take one more GEMM per group — except word→entity, whose scores come
//! from the keys folded into `w2e_query` ([`WordEntityScores`]). Attention then runs per
//! (sequence, head) on strided views of those blocks.

use super::dense::{Dense, DenseWeights};
use super::weights::Weights;
use super::word_entity::WordEntityScores;
use crate::kernels::fastmath;
use crate::kernels::matmul::{matmul_view, View};
use crate::kernels::recycle::recycle;
use anyhow::Result;
use rayon::prelude::*;

/// The projections: shared ones over all rows, and the entity-aware queries per row group.
#[allow(clippy::large_enum_variant)] // one per layer, made once at load
enum Projections {
    /// All rows → `[q | k | v]`.
    Plain(Dense),
    /// All rows → `[k | v]`; word rows → `q_w2w`; entity rows → `[q_e2w | q_e2e]`; word→entity
    /// scores from the keys.
    EntityAware {
        shared: Dense,
        words: Dense,
        entities: Dense,
        word_entity: Box<WordEntityScores>,
    },
}

/// One layer's attention weights as the checkpoint stores them (`[out, in]`), before packing.
pub struct AttentionWeights {
    pub query: DenseWeights,
    pub key: DenseWeights,
    pub value: DenseWeights,
    /// `w2e_query`, `e2w_query`, `e2e_query`, when the attention is entity-aware.
    pub entity_aware: Option<[DenseWeights; 3]>,
    pub heads: usize,
}

impl AttentionWeights {
    /// `{prefix}.self.{query,key,value}` (and the entity-aware queries), each `[hidden, hidden]`.
    pub fn load(w: &mut Weights, prefix: &str, hidden: usize, heads: usize, entity_aware: bool) -> Result<Self> {
        let mut dense = |name: &str| DenseWeights::load(w, &format!("{prefix}.self.{name}"), hidden, hidden, true);
        let (query, key, value) = (dense("query")?, dense("key")?, dense("value")?);
        let entity_aware = if entity_aware {
            Some([dense("w2e_query")?, dense("e2w_query")?, dense("e2e_query")?])
        } else {
            None
        };
        Ok(Self {
            query,
            key,
            value,
            entity_aware,
            heads,
        })
    }
}

/// The rows of one attention call: `batch` sequences of `words` word rows and `entities`
/// entity rows, stacked `[B·W + B·N, H]` (every sequence's words, then every sequence's
/// entities); its masks are `[B, W + N]`, 1 for a real token or entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub words: usize,
    pub entities: usize,
}

impl AttentionShape {
    /// `B·(W + N)`.
    pub fn rows(&self) -> usize {
        self.batch * (self.words + self.entities)
    }
}

/// The attention core on the CPU, its weights packed once.
pub struct SelfAttention {
    projections: Projections,
    heads: usize,
    head_size: usize,
}

/// A projected block `[rows, width]`: queries, or the shared keys and values (see [`Group`]).
struct Projected<'a> {
    data: &'a [f32],
    width: usize,
}

/// Where one row group (words or entities) finds its vectors.
struct Group<'a> {
    /// Rows per sequence.
    rows: usize,
    /// Its queries, the block row of sequence 0 in them, and their column per target group.
    queries: &'a Projected<'a>,
    query_first: usize,
    query_cols: [usize; 2],
    /// The block row of sequence 0 in the shared keys and values.
    shared_first: usize,
    /// Per sequence, its scores against the entities `[rows, heads·N]`, where they are not
    /// queries times keys ([`WordEntityScores`]).
    entity_scores: Option<&'a [Vec<f32>]>,
}

impl<'a> Projected<'a> {
    /// Rows `first .. first + rows`, columns `col .. col + d` (one head's slice).
    fn head(&self, first: usize, rows: usize, col: usize, d: usize) -> View<'a> {
        View {
            data: self.data,
            offset: first * self.width + col,
            rows,
            cols: d,
            row_stride: self.width,
            col_stride: 1,
        }
    }
}

impl<'a> Group<'a> {
    /// A group of `rows` per sequence starting at block row `first`, with its own entity-aware
    /// queries (`[q→words | q→entities]`, or `q→words` alone for words, whose scores against
    /// entities come from [`WordEntityScores`]) or, without them, the shared block's `q`.
    fn new(rows: usize, first: usize, own: Option<&'a Projected<'a>>, shared: &'a Projected<'a>, h: usize) -> Self {
        let (queries, query_first, query_cols) = match own {
            Some(q) => (q, 0, [0, q.width - h]),
            None => (shared, first, [0, 0]),
        };
        Self {
            rows,
            queries,
            query_first,
            query_cols,
            shared_first: first,
            entity_scores: None,
        }
    }
}

impl SelfAttention {
    pub fn new(w: AttentionWeights) -> Self {
        let h = w.query.outputs();
        let projections = match w.entity_aware {
            Some([w2e, e2w, e2e]) => Projections::EntityAware {
                shared: DenseWeights::concat(&[&w.key, &w.value]).pack(),
                words: w.query.pack(),
                entities: DenseWeights::concat(&[&e2w, &e2e]).pack(),
                word_entity: Box::new(WordEntityScores::new(w2e, w.heads)),
            },
            None => Projections::Plain(DenseWeights::concat(&[&w.query, &w.key, &w.value]).pack()),
        };
        Self {
            projections,
            heads: w.heads,
            head_size: h / w.heads,
        }
    }

    pub fn hidden(&self) -> usize {
        self.heads * self.head_size
    }

    /// The stacked block `hidden` `[B·W + B·N, H]` → every row's attention context into
    /// `context`, same shape (every value written), before the output projection; `masks`
    /// `[B, W + N]`. The intermediate blocks come from the buffer pool (`kernels::recycle`)
    /// and go back there.
    pub fn context(&self, context: &mut [f32], hidden: &[f32], masks: &[u32], batch: AttentionShape) {
        let (bsz, nw, ne) = (batch.batch, batch.words, batch.entities);
        let h = self.heads * self.head_size;
        let (wrows, rows) = (bsz * nw, bsz * (nw + ne));
        let (shared_block, word_q_block, entity_q_block) = match &self.projections {
            Projections::Plain(qkv) => (qkv.forward(hidden, rows), None, None), // [R, 3H]
            Projections::EntityAware {
                shared,
                words,
                entities,
                ..
            } => (
                shared.forward(hidden, rows),                               // [R, 2H]
                Some(words.forward(&hidden[..wrows * h], wrows)),           // [B·W, H]
                Some(entities.forward(&hidden[wrows * h..], rows - wrows)), // [B·N, 2H]
            ),
        };
        let shared = Projected {
            data: &shared_block,
            width: shared_block.len() / rows.max(1),
        };
        let (word_q, entity_q) = (
            word_q_block.as_deref().map(|data| Projected { data, width: h }),
            entity_q_block.as_deref().map(|data| Projected { data, width: 2 * h }),
        );
        // Per sequence, [W, heads·N]: entity-aware word→entity scores (keys at column 0).
        let word_entity: Option<Vec<Vec<f32>>> = match &self.projections {
            Projections::EntityAware { word_entity, .. } => Some(word_entity.scores(
                View::row_major(&hidden[..wrows * h], wrows, h),
                shared.head(wrows, rows - wrows, 0, h),
                bsz,
            )),
            Projections::Plain(_) => None,
        };
        // Keys and values follow the queries in the shared block when it holds them.
        let kv_col = if word_q.is_some() { 0 } else { h };
        let groups = [
            Group {
                entity_scores: word_entity.as_deref(),
                ..Group::new(nw, 0, word_q.as_ref(), &shared, h)
            },
            Group::new(ne, wrows, entity_q.as_ref(), &shared, h),
        ];
        // Context per (sequence, head): [W + N, d].
        let contexts: Vec<Vec<f32>> = (0..bsz * self.heads)
            .into_par_iter()
            .map(|task| {
                self.attend(
                    &groups,
                    &shared,
                    kv_col,
                    masks,
                    batch,
                    task / self.heads,
                    task % self.heads,
                )
            })
            .collect();
        let d = self.head_size;
        // Every (row, head) slice is written below.
        for (task, ctx) in contexts.iter().enumerate() {
            let (b, head) = (task / self.heads, task % self.heads);
            for (r, row) in ctx.chunks_exact(d).enumerate() {
                let at = if r < nw { b * nw + r } else { wrows + b * ne + r - nw };
                context[at * h + head * d..][..d].copy_from_slice(row);
            }
        }
        for block in [word_q_block, entity_q_block].into_iter().flatten() {
            recycle(block);
        }
        recycle(shared_block);
    }

    /// Softmax attention of sequence `b`, head `head`: returns its context rows `[W + N, d]`.
    #[allow(clippy::too_many_arguments)]
    fn attend<'a>(
        &self,
        groups: &[Group<'a>; 2],
        shared: &Projected<'a>,
        kv_col: usize,
        masks: &[u32],
        batch: AttentionShape,
        b: usize,
        head: usize,
    ) -> Vec<f32> {
        let d = self.head_size;
        let h = self.heads * d;
        let keys = batch.words + batch.entities;
        let view = |block: &Projected<'a>, first: usize, rows: usize, col: usize| {
            block.head(first + b * rows, rows, col + head * d, d)
        };
        let mut scores = vec![0f32; keys * keys];
        let mut row0 = 0;
        for queries in groups {
            let mut key0 = 0;
            for (target, keyed) in groups.iter().enumerate() {
                if let (1, Some(all)) = (target, queries.entity_scores) {
                    let n = keyed.rows;
                    let own = &all[b][head * n..];
                    for r in 0..queries.rows {
                        let at = (row0 + r) * keys + key0;
                        scores[at..at + n].copy_from_slice(&own[r * self.heads * n..][..n]);
                    }
                    key0 += n;
                    continue;
                }
                // scores[queries, keyed] = Q(queries → target group) · K(keyed)ᵀ
                let q = view(
                    queries.queries,
                    queries.query_first,
                    queries.rows,
                    queries.query_cols[target],
                );
                let k = view(shared, keyed.shared_first, keyed.rows, kv_col).t();
                matmul_view(&mut scores, row0 * keys + key0, keys, q, k, false);
                key0 += keyed.rows;
            }
            row0 += queries.rows;
        }
        let scale = 1.0 / (d as f32).sqrt();
        let mask = &masks[b * keys..][..keys];
        for row in scores.chunks_exact_mut(keys.max(1)).take(keys) {
            for (s, &m) in row.iter_mut().zip(mask) {
                *s = if m != 0 { *s * scale } else { f32::NEG_INFINITY };
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
        let values = |g: &Group| view(shared, g.shared_first, g.rows, kv_col + h);
        matmul_view(&mut ctx, 0, d, probs(0, batch.words), values(&groups[0]), false);
        matmul_view(
            &mut ctx,
            0,
            d,
            probs(batch.words, batch.entities),
            values(&groups[1]),
            true,
        );
        ctx
    }
}
