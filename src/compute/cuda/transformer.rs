//! The transformer operations of [`Cuda`] (LUKE's inference): dense layers on cuBLAS, and the
//! attention core as the usual sequence of batched products.
//!
//! Attention over the stacked block `[B·W + B·N, H]` (every sequence's words, then every
//! sequence's entities):
//! 1. projections: all rows → `[k | v]` (with `q` first when the attention is not
//!    entity-aware); when it is, word rows → `[q_w2w | q_w2e]` and entity rows →
//!    `[q_e2w | q_e2e]` into one block, so each row holds its query toward words, then its query
//!    toward entities;
//! 2. `move_heads` makes each (sequence, head)'s rows contiguous, `[B·heads, K, d]` with
//!    K = W + N, for queries, keys and values;
//! 3. scores `[B·heads, K, K]`: one strided-batched product for the word keys and one for the
//!    entity keys (each with the query toward them), or one for all keys without entity-aware
//!    queries;
//! 4. `attention_softmax` scales, masks and normalises each row;
//! 5. context = probabilities · values (one strided-batched product), and `move_heads` puts
//!    it back in the stacked block's rows.
//!
//! Unlike the CPU, no word→entity scores are folded into the keys: every query is projected.

use super::{err, Cuda};
use crate::compute::shapes::check_attend;
use crate::compute::{Activation, AttentionShape, AttentionWeights, DenseWeights, Layout};
use anyhow::{anyhow, Result};
use cudarc::cublas::result::sgemm_strided_batched;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

/// `y = x·Wᵀ + b` on the device: `W` `[out, in]` as PyTorch stores it.
pub struct CudaDense {
    weight: CudaSlice<f32>,
    bias: Option<CudaSlice<f32>>,
    pub(super) inputs: usize,
    pub(super) outputs: usize,
}

/// One layer's attention weights on the device.
pub struct CudaAttention {
    /// All rows → `[k | v]`, or `[q | k | v]` without `queries`.
    shared: CudaDense,
    /// Entity-aware queries: word rows → `[q_w2w | q_w2e]`, entity rows → `[q_e2w | q_e2e]`.
    queries: Option<(CudaDense, CudaDense)>,
    heads: usize,
    head_size: usize,
}

/// One operand of [`Cuda::gemm_batched`]: a device pointer to the first matrix, its layout, its
/// row stride (`ld`) and the distance between consecutive matrices, all in values.
#[derive(Clone, Copy)]
struct Strided {
    at: u64,
    layout: Layout,
    ld: usize,
    stride: usize,
}

/// Threads per block of the row kernels (LayerNorm, softmax): a multiple of 32.
const ROW_THREADS: u32 = 256;
/// Most blocks a row kernel is launched with; each block then strides over the rest.
const MAX_ROW_BLOCKS: usize = 65_535;

pub(super) fn by_rows(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.clamp(1, MAX_ROW_BLOCKS) as u32, 1, 1),
        block_dim: (ROW_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl Cuda {
    pub(super) fn upload_dense(&self, w: DenseWeights) -> Result<CudaDense> {
        let (weight, bias, inputs, outputs) = w.into_parts();
        Ok(CudaDense {
            weight: self.stream.clone_htod(&weight).map_err(err("copy to device"))?,
            bias: bias
                .map(|b| self.stream.clone_htod(&b).map_err(err("copy to device")))
                .transpose()?,
            inputs,
            outputs,
        })
    }

    /// `y[rows, out] = x[rows, in] · Wᵀ + b` on raw pointers (sizes checked by the caller).
    pub(super) fn affine_raw(&self, y: u64, x: u64, rows: usize, w: &CudaDense) -> Result<()> {
        let beta = match &w.bias {
            Some(bias) => {
                let (pr, r, n) = (self.ptr(bias), rows as u32, w.outputs as u32);
                launch!(self, self.k.fill_rows, Self::spread(rows * w.outputs), y, pr, r, n)?;
                1.0
            }
            None => 0.0,
        };
        let pw = self.ptr(&w.weight);
        self.gemm_raw(
            y,
            x,
            Layout::Plain,
            pw,
            Layout::Transposed,
            rows,
            w.inputs,
            w.outputs,
            beta,
        )
    }

    pub(super) fn activate_values(&self, x: &mut CudaSlice<f32>, act: Activation) -> Result<()> {
        let code: i32 = match act {
            Activation::Gelu => 0,
            Activation::GeluTanh => 1,
            Activation::Relu => 2,
            Activation::Tanh => 3,
        };
        let (px, n) = (self.ptr(x), x.len() as u64);
        launch!(self, self.k.activate, Self::spread(x.len()), px, n, code)
    }

    pub(super) fn upload_attention(&self, w: AttentionWeights) -> Result<CudaAttention> {
        let h = w.query.outputs();
        let (shared, queries) = match &w.entity_aware {
            Some([w2e, e2w, e2e]) => (
                DenseWeights::concat(&[&w.key, &w.value]),
                Some((
                    self.upload_dense(DenseWeights::concat(&[&w.query, w2e]))?,
                    self.upload_dense(DenseWeights::concat(&[e2w, e2e]))?,
                )),
            ),
            None => (DenseWeights::concat(&[&w.query, &w.key, &w.value]), None),
        };
        Ok(CudaAttention {
            shared: self.upload_dense(shared)?,
            queries,
            heads: w.heads,
            head_size: h / w.heads,
        })
    }

    /// Row-major `c[i] = beta·c[i] + a[i] · b[i]` (`[m, k]·[k, n]`) for `batch` matrices at
    /// the operands' strides, as one cuBLAS call (column-major, so `cᵀ = bᵀ·aᵀ`, as
    /// [`Cuda::gemm_raw`] does).
    #[allow(clippy::too_many_arguments)]
    fn gemm_batched(
        &self,
        c: Strided,
        a: Strided,
        b: Strided,
        m: usize,
        k: usize,
        n: usize,
        batch: usize,
        beta: f32,
    ) -> Result<()> {
        let op = |l: Layout| match l {
            Layout::Plain => cublasOperation_t::CUBLAS_OP_N,
            Layout::Transposed => cublasOperation_t::CUBLAS_OP_T,
        };
        let alpha = 1.0f32;
        // SAFETY: the callers allocate every matrix the strides reach.
        unsafe {
            sgemm_strided_batched(
                *self.blas.handle(),
                op(b.layout),
                op(a.layout),
                n as i32,
                m as i32,
                k as i32,
                &alpha,
                b.at as *const f32,
                b.ld as i32,
                b.stride as i64,
                a.at as *const f32,
                a.ld as i32,
                a.stride as i64,
                &beta,
                c.at as *mut f32,
                c.ld as i32,
                c.stride as i64,
                batch as i32,
            )
        }
        .map_err(|e| anyhow!("cuBLAS batched sgemm {batch} × {m}×{k}·{k}×{n}: {e:?}"))
    }

    /// `[B·heads, K, d]` from columns `col ..` of the stacked block at `x` (rows of `width`).
    fn split(&self, x: u64, width: usize, col: usize, s: AttentionShape, a: &CudaAttention) -> Result<CudaSlice<f32>> {
        let len = s.rows() * a.heads * a.head_size;
        // SAFETY: move_heads writes every value.
        let out = unsafe { self.written_later::<f32>(len.max(1)) }?;
        self.move_heads(self.ptr(&out), x, width, col, s, a, true)?;
        Ok(out)
    }

    /// kernels.cu's `move_heads` between `heads` `[B·heads, K, d]` and columns `col ..` of the
    /// stacked block at `x` (rows of `width`): into the heads with `to_heads`, else back.
    #[allow(clippy::too_many_arguments)]
    fn move_heads(
        &self,
        heads: u64,
        x: u64,
        width: usize,
        col: usize,
        s: AttentionShape,
        a: &CudaAttention,
        to_heads: bool,
    ) -> Result<()> {
        let (w, c, b, nw, ne, nh, d, to) = (
            width as u32,
            col as u32,
            s.batch as u32,
            s.words as u32,
            s.entities as u32,
            a.heads as u32,
            a.head_size as u32,
            to_heads as i32,
        );
        let cfg = Self::spread(s.rows() * a.heads * a.head_size);
        launch!(self, self.k.move_heads, cfg, heads, x, w, c, b, nw, ne, nh, d, to)
    }

    pub(super) fn attend_core(
        &self,
        context: &mut CudaSlice<f32>,
        hidden: &CudaSlice<f32>,
        a: &CudaAttention,
        masks: &CudaSlice<u32>,
        s: AttentionShape,
    ) -> Result<()> {
        let (heads, d) = (a.heads, a.head_size);
        let h = heads * d;
        check_attend(context.len(), hidden.len(), masks.len(), h, s)?;
        let (rows, wrows) = (s.rows(), s.batch * s.words);
        if rows == 0 {
            return Ok(());
        }
        let keys = s.words + s.entities;
        let bh = s.batch * heads;
        // SAFETY: the affine products below write every value.
        let shared = unsafe { self.written_later::<f32>(rows * a.shared.outputs) }?; // [R, 2H | 3H]
        let ps = self.ptr(&shared);
        self.affine_raw(ps, self.ptr(hidden), rows, &a.shared)?;
        // Each row's query toward words and toward entities: (block, width, columns).
        let (own_queries, width, toward) = match &a.queries {
            Some((words, entities)) => {
                // SAFETY: the word rows' and the entity rows' products write every value.
                let q = unsafe { self.written_later::<f32>(rows * 2 * h) }?; // [R, 2H]
                let (pq, ph) = (self.ptr(&q), self.ptr(hidden));
                if wrows > 0 {
                    self.affine_raw(pq, ph, wrows, words)?;
                }
                if rows > wrows {
                    let at = 4 * (wrows * h) as u64;
                    self.affine_raw(pq + 2 * at, ph + at, rows - wrows, entities)?;
                }
                (Some(q), 2 * h, [0, h])
            }
            None => (None, 3 * h, [0, 0]),
        };
        let (pq, kv) = match &own_queries {
            Some(q) => (self.ptr(q), 0),
            None => (ps, h),
        };
        let q_words = self.split(pq, width, toward[0], s, a)?; // [BH, K, d]
        let q_entities = match &a.queries {
            Some(_) if s.entities > 0 => Some(self.split(pq, width, toward[1], s, a)?),
            _ => None,
        };
        let kv_width = a.shared.outputs;
        let k_heads = self.split(ps, kv_width, kv, s, a)?; // [BH, K, d]
        let v_heads = self.split(ps, kv_width, kv + h, s, a)?; // [BH, K, d]
        drop(own_queries);
        drop(shared);
        // SAFETY: the score products write every value (all keys, by one or two products).
        let scores = unsafe { self.written_later::<f32>(bh * keys * keys) }?; // [BH, K, K]
        let heads_of = |block: &CudaSlice<f32>, first: usize, layout: Layout| Strided {
            at: self.ptr(block) + 4 * (first * d) as u64,
            layout,
            ld: d,
            stride: keys * d,
        };
        let scores_at = |first_key: usize| Strided {
            at: self.ptr(&scores) + 4 * first_key as u64,
            layout: Layout::Plain,
            ld: keys,
            stride: keys * keys,
        };
        let queries = heads_of(&q_words, 0, Layout::Plain);
        match &q_entities {
            // scores[:, :, :W] = Q→words · K_wordsᵀ; scores[:, :, W:] = Q→entities · K_entitiesᵀ
            Some(q_e) => {
                if s.words > 0 {
                    let k = heads_of(&k_heads, 0, Layout::Transposed);
                    self.gemm_batched(scores_at(0), queries, k, keys, d, s.words, bh, 0.0)?;
                }
                let k = heads_of(&k_heads, s.words, Layout::Transposed);
                let q = heads_of(q_e, 0, Layout::Plain);
                self.gemm_batched(scores_at(s.words), q, k, keys, d, s.entities, bh, 0.0)?;
            }
            None => {
                let k = heads_of(&k_heads, 0, Layout::Transposed);
                self.gemm_batched(scores_at(0), queries, k, keys, d, keys, bh, 0.0)?;
            }
        }
        let (pscores, pm, r, kk, nh) = (
            self.ptr(&scores),
            self.ptr(masks),
            (bh * keys) as u32,
            keys as u32,
            heads as u32,
        );
        let scale = 1.0 / (d as f32).sqrt();
        launch!(
            self,
            self.k.attention_softmax,
            by_rows(bh * keys),
            pscores,
            pm,
            r,
            kk,
            nh,
            scale
        )?;
        // SAFETY: the context product writes every value.
        let ctx = unsafe { self.written_later::<f32>(bh * keys * d) }?; // [BH, K, d]
        let probabilities = Strided {
            at: pscores,
            layout: Layout::Plain,
            ld: keys,
            stride: keys * keys,
        };
        self.gemm_batched(
            heads_of(&ctx, 0, Layout::Plain),
            probabilities,
            heads_of(&v_heads, 0, Layout::Plain),
            keys,
            keys,
            d,
            bh,
            0.0,
        )?;
        self.move_heads(self.ptr(&ctx), self.ptr(context), h, 0, s, a, false)
    }
}
