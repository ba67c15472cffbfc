//! The CUDA backend's attention core as a plan: the projections, head moves, batched products
//! and softmax it runs, over named blocks, with every offset, leading dimension and stride
//! worked out here. `cuda/transformer.rs` executes the plan with cuBLAS and the kernels; the
//! tests below execute it on the CPU, the products as cuBLAS defines them (column-major, with
//! the operand swap [`cublas_gemm`] makes), and compare with the CPU backend's attention. So
//! the indexing of the GPU path is checked on a machine without a GPU.
//!
//! Over the stacked block `[B·W + B·N, H]` (every sequence's words, then every sequence's
//! entities):
//! 1. projections: all rows → `[k | v]` (`[q | k | v]` when the attention is not
//!    entity-aware); when it is, word rows → `[q_w2w | q_w2e]` and entity rows →
//!    `[q_e2w | q_e2e]` into one block, so each row holds its query toward words, then its query
//!    toward entities;
//! 2. each (sequence, head)'s rows made contiguous, `[B·heads, K, d]` with K = W + N, for the
//!    queries toward words and toward entities, the keys and the values;
//! 3. scores `[B·heads, K, K]`: one strided-batched product for the word keys and one for the
//!    entity keys (each with the query toward them), or one for all keys without entity-aware
//!    queries or without entities;
//! 4. the softmax of each row, scaled, masked keys left out;
//! 5. context = probabilities · values (one strided-batched product), moved back into the
//!    stacked block's rows.
//!
//! Unlike the CPU, no word→entity scores are folded into the keys: every query is projected.

use super::{AttentionShape, AttentionWeights, DenseWeights, Layout};

/// A block of the plan: the input and output the caller gives, and the ones the plan
/// allocates (their sizes in [`Plan::blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    /// `[R, H]`, the input.
    Hidden,
    /// `[R, 2H]` or `[R, 3H]`: the shared projection.
    Shared,
    /// `[R, 2H]`: the entity-aware queries, toward words then toward entities.
    Queries,
    /// `[B·heads, K, d]` each.
    QueriesToWords,
    QueriesToEntities,
    Keys,
    Values,
    /// `[B·heads, K, K]`.
    Scores,
    /// `[B·heads, K, d]`: the context per head.
    HeadContext,
    /// `[R, H]`, the output.
    Context,
}

/// Which of the attention's prepared dense layers a projection uses ([`denses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    Shared,
    Words,
    Entities,
}

/// A matrix operand of a batched product: `batch` row-major matrices in `block`, the first at
/// `offset` values, rows `ld` apart, consecutive matrices `stride` apart, stored as `layout`
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operand {
    pub block: Block,
    pub offset: usize,
    pub layout: Layout,
    pub ld: usize,
    pub stride: usize,
}

/// `out[out_row.., :] = hidden[input_row .. input_row + rows, :] · Wᵀ + b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affine {
    pub projection: Projection,
    pub input_row: usize,
    pub rows: usize,
    pub out: Block,
    pub out_row: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Affine(Affine),
    /// Between `heads` `[B·heads, K, d]` and columns `col + h·d ..` of `block` (rows of
    /// `width`, stacked): into the heads with `to_heads`, else back.
    MoveHeads {
        heads: Block,
        block: Block,
        width: usize,
        col: usize,
        to_heads: bool,
    },
    /// Row-major `c = a · b` (`[m, k]·[k, n]`) for `batch` matrices.
    Gemm {
        c: Operand,
        a: Operand,
        b: Operand,
        m: usize,
        k: usize,
        n: usize,
        batch: usize,
    },
    /// Every row `[K]` of the scores: `× scale`, keys masked out to −∞, softmax.
    Softmax {
        scale: f32,
    },
}

pub struct Plan {
    /// The blocks to allocate and their sizes in values.
    pub blocks: Vec<(Block, usize)>,
    pub steps: Vec<Step>,
}

/// The dense layers a plan projects with: `(shared, Some((words, entities)))` for
/// entity-aware attention, each a concatenation of the checkpoint's projections.
pub fn denses(w: &AttentionWeights) -> (DenseWeights, Option<(DenseWeights, DenseWeights)>) {
    match &w.entity_aware {
        Some([w2e, e2w, e2e]) => (
            DenseWeights::concat(&[&w.key, &w.value]),
            Some((
                DenseWeights::concat(&[&w.query, w2e]),
                DenseWeights::concat(&[e2w, e2e]),
            )),
        ),
        None => (DenseWeights::concat(&[&w.query, &w.key, &w.value]), None),
    }
}

/// The steps of one attention call with `heads` heads of `d`.
pub fn plan(heads: usize, d: usize, entity_aware: bool, s: AttentionShape) -> Plan {
    let h = heads * d;
    let (rows, wrows) = (s.rows(), s.batch * s.words);
    let keys = s.words + s.entities;
    let bh = s.batch * heads;
    let per_head = bh * keys * d;
    let mut blocks = vec![(Block::Shared, rows * if entity_aware { 2 * h } else { 3 * h })];
    let mut steps = vec![Step::Affine(Affine {
        projection: Projection::Shared,
        input_row: 0,
        rows,
        out: Block::Shared,
        out_row: 0,
    })];
    // the queries' block, its width, and the columns of the queries toward words and entities
    let (queries, width, toward) = if entity_aware {
        blocks.push((Block::Queries, rows * 2 * h));
        for (projection, first, n) in [
            (Projection::Words, 0, wrows),
            (Projection::Entities, wrows, rows - wrows),
        ] {
            if n > 0 {
                steps.push(Step::Affine(Affine {
                    projection,
                    input_row: first,
                    rows: n,
                    out: Block::Queries,
                    out_row: first,
                }));
            }
        }
        (Block::Queries, 2 * h, [0, h])
    } else {
        (Block::Shared, 3 * h, [0, 0])
    };
    let (shared_width, kv) = if entity_aware { (2 * h, 0) } else { (3 * h, h) };
    let split = s.entities > 0 && entity_aware;
    let mut to_heads = vec![
        (Block::QueriesToWords, queries, width, toward[0]),
        (Block::Keys, Block::Shared, shared_width, kv),
        (Block::Values, Block::Shared, shared_width, kv + h),
    ];
    if split {
        to_heads.push((Block::QueriesToEntities, queries, width, toward[1]));
    }
    for (heads_block, block, width, col) in to_heads {
        blocks.push((heads_block, per_head));
        steps.push(Step::MoveHeads {
            heads: heads_block,
            block,
            width,
            col,
            to_heads: true,
        });
    }
    blocks.push((Block::Scores, bh * keys * keys));
    let of_heads = |block: Block, first_row: usize, layout: Layout| Operand {
        block,
        offset: first_row * d,
        layout,
        ld: d,
        stride: keys * d,
    };
    let scores_from = |first_key: usize| Operand {
        block: Block::Scores,
        offset: first_key,
        layout: Layout::Plain,
        ld: keys,
        stride: keys * keys,
    };
    // scores[:, :, keys] = Q(toward those keys) · K(those keys)ᵀ
    let groups: Vec<(Block, usize, usize)> = if split {
        vec![
            (Block::QueriesToWords, 0, s.words),
            (Block::QueriesToEntities, s.words, s.entities),
        ]
    } else {
        vec![(Block::QueriesToWords, 0, keys)]
    };
    for (q, first_key, n) in groups {
        if n == 0 {
            continue;
        }
        steps.push(Step::Gemm {
            c: scores_from(first_key),
            a: of_heads(q, 0, Layout::Plain),
            b: of_heads(Block::Keys, first_key, Layout::Transposed),
            m: keys,
            k: d,
            n,
            batch: bh,
        });
    }
    steps.push(Step::Softmax {
        scale: 1.0 / (d as f32).sqrt(),
    });
    blocks.push((Block::HeadContext, per_head));
    steps.push(Step::Gemm {
        c: of_heads(Block::HeadContext, 0, Layout::Plain),
        a: scores_from(0),
        b: of_heads(Block::Values, 0, Layout::Plain),
        m: keys,
        k: keys,
        n: d,
        batch: bh,
    });
    steps.push(Step::MoveHeads {
        heads: Block::HeadContext,
        block: Block::Context,
        width: h,
        col: 0,
        to_heads: false,
    });
    Plan { blocks, steps }
}

/// A cuBLAS (column-major) strided-batched product: `C = op(A)·op(B)`, `[m, k]·[k, n]` in
/// cuBLAS's terms, `transa`/`transb` whether `op` transposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CublasGemm {
    pub transa: bool,
    pub transb: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Operand,
    pub b: Operand,
    pub c: Operand,
}

/// The cuBLAS call for row-major `c = a · b` (`[m, k]·[k, n]`): a row-major matrix reads
/// column-major as its transpose, so it computes `cᵀ = bᵀ · aᵀ`, `b` first, and an operand
/// stored transposed becomes a transposed cuBLAS operand.
pub fn cublas_gemm(c: Operand, a: Operand, b: Operand, m: usize, k: usize, n: usize) -> CublasGemm {
    CublasGemm {
        transa: b.layout == Layout::Transposed,
        transb: a.layout == Layout::Transposed,
        m: n,
        n: m,
        k,
        a: b,
        b: a,
        c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use crate::compute::Backend;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-0.5..0.5)).collect()
    }

    fn dense(rng: &mut ChaCha8Rng, h: usize) -> DenseWeights {
        DenseWeights::new(random(rng, h * h), Some(random(rng, h)), h, h).unwrap()
    }

    /// cuBLAS's strided-batched sgemm as its documentation defines it, column-major:
    /// `C[i + j·ldc] = Σ_l op(A)[i, l] · op(B)[l, j]`, matrix `p` at `p·stride`.
    fn cublas_on(blocks: &mut HashMap<Block, Vec<f32>>, g: CublasGemm, batch: usize) {
        let at = |o: &Operand, p: usize, r: usize, c: usize| o.offset + p * o.stride + r + c * o.ld;
        for p in 0..batch {
            for i in 0..g.m {
                for j in 0..g.n {
                    let mut sum = 0f32;
                    for l in 0..g.k {
                        let a = if g.transa { at(&g.a, p, l, i) } else { at(&g.a, p, i, l) };
                        let b = if g.transb { at(&g.b, p, j, l) } else { at(&g.b, p, l, j) };
                        sum += blocks[&g.a.block][a] * blocks[&g.b.block][b];
                    }
                    let c = at(&g.c, p, i, j);
                    blocks.get_mut(&g.c.block).unwrap()[c] = sum;
                }
            }
        }
    }

    /// The plan run on the CPU, each step as its CUDA kernel or cuBLAS call defines it.
    fn execute(w: &AttentionWeights, hidden: &[f32], masks: &[u32], s: AttentionShape) -> Vec<f32> {
        let (heads, h) = (w.heads, w.query.outputs());
        let d = h / heads;
        let (shared, own) = denses(w);
        let (shared, own) = (
            Cpu.dense(shared).unwrap(),
            own.map(|(a, b)| (Cpu.dense(a).unwrap(), Cpu.dense(b).unwrap())),
        );
        let p = plan(heads, d, w.entity_aware.is_some(), s);
        let mut blocks: HashMap<Block, Vec<f32>> = p.blocks.iter().map(|&(b, n)| (b, vec![f32::NAN; n])).collect();
        blocks.insert(Block::Hidden, hidden.to_vec());
        blocks.insert(Block::Context, vec![f32::NAN; hidden.len()]);
        let keys = s.words + s.entities;
        let stacked = |b: usize, t: usize| {
            if t < s.words {
                b * s.words + t
            } else {
                s.batch * s.words + b * s.entities + t - s.words
            }
        };
        for step in p.steps {
            match step {
                Step::Affine(f) => {
                    let layer = match f.projection {
                        Projection::Shared => &shared,
                        Projection::Words => &own.as_ref().unwrap().0,
                        Projection::Entities => &own.as_ref().unwrap().1,
                    };
                    let mut y = vec![0f32; f.rows * layer.outputs()];
                    let x = blocks[&Block::Hidden].clone();
                    Cpu.affine(&mut y, &x, f.input_row, f.rows, layer).unwrap();
                    let width = layer.outputs();
                    blocks.get_mut(&f.out).unwrap()[f.out_row * width..][..f.rows * width].copy_from_slice(&y);
                }
                Step::MoveHeads {
                    heads: hb,
                    block,
                    width,
                    col,
                    to_heads,
                } => {
                    for b in 0..s.batch {
                        for head in 0..heads {
                            for t in 0..keys {
                                for j in 0..d {
                                    let i = ((b * heads + head) * keys + t) * d + j;
                                    let at = stacked(b, t) * width + col + head * d + j;
                                    if to_heads {
                                        let v = blocks[&block][at];
                                        blocks.get_mut(&hb).unwrap()[i] = v;
                                    } else {
                                        let v = blocks[&hb][i];
                                        blocks.get_mut(&block).unwrap()[at] = v;
                                    }
                                }
                            }
                        }
                    }
                }
                Step::Gemm {
                    c,
                    a,
                    b,
                    m,
                    k,
                    n,
                    batch,
                } => cublas_on(&mut blocks, cublas_gemm(c, a, b, m, k, n), batch),
                Step::Softmax { scale } => {
                    let scores = blocks.get_mut(&Block::Scores).unwrap();
                    for (r, row) in scores.chunks_mut(keys).enumerate() {
                        let mask = &masks[r / (heads * keys) * keys..][..keys];
                        for (v, &m) in row.iter_mut().zip(mask) {
                            *v = if m != 0 { *v * scale } else { f32::NEG_INFINITY };
                        }
                        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
                        row.iter_mut().for_each(|v| *v = (*v - max).exp() / sum);
                    }
                }
            }
        }
        blocks.remove(&Block::Context).unwrap()
    }

    /// The plan, executed as the GPU would, gives the CPU backend's attention: plain and
    /// entity-aware, entities few, many and none, some keys padded.
    #[test]
    fn the_cuda_plan_computes_the_cpu_attention() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (heads, d) = (3, 4);
        let h = heads * d;
        for (aware, (batch, words, entities)) in [
            (false, (2, 5, 2)),
            (false, (2, 4, 0)),
            (true, (2, 7, 2)),
            (true, (2, 3, 6)),
            (true, (3, 4, 0)),
            (true, (1, 1, 3)),
        ] {
            let s = AttentionShape { batch, words, entities };
            let keys = words + entities;
            let hidden = random(&mut rng, s.rows() * h);
            let masks: Vec<u32> = (0..batch)
                .flat_map(|b| (0..keys).map(move |t| u32::from(!(b == 1 && (t == 0 || t + 1 == keys)))))
                .collect();
            let weights = || {
                let mut rng = ChaCha8Rng::seed_from_u64(9);
                AttentionWeights {
                    query: dense(&mut rng, h),
                    key: dense(&mut rng, h),
                    value: dense(&mut rng, h),
                    entity_aware: aware.then(|| [dense(&mut rng, h), dense(&mut rng, h), dense(&mut rng, h)]),
                    heads,
                }
            };
            let got = execute(&weights(), &hidden, &masks, s);
            let attention = Cpu.attention(weights()).unwrap();
            let mut want = vec![0f32; hidden.len()];
            Cpu.attend(&mut want, &hidden, &attention, &masks, s).unwrap();
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(
                worst < 1e-5 && got.iter().all(|v| v.is_finite()),
                "aware {aware}, shape {s:?}: max |Δ| {worst}"
            );
        }
    }
}
