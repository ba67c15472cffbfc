//! The transformer operations of [`Cuda`] (LUKE's inference): dense layers on cuBLAS, and the
//! attention core as `compute::attention_plan` lays it out (projections, head moves,
//! strided-batched products, a masked row softmax), each step on cuBLAS or a kernel.

use super::{err, Cuda};
use crate::compute::attention_plan::{cublas_gemm, denses, plan, Block, CublasGemm, Projection, Step};
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

/// One layer's attention weights on the device, as `attention_plan::denses` stacks them.
pub struct CudaAttention {
    /// All rows → `[k | v]`, or `[q | k | v]` without `queries`.
    shared: CudaDense,
    /// Entity-aware queries: word rows → `[q_w2w | q_w2e]`, entity rows → `[q_e2w | q_e2e]`.
    queries: Option<(CudaDense, CudaDense)>,
    heads: usize,
    head_size: usize,
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
        let (shared, queries) = denses(&w);
        Ok(CudaAttention {
            shared: self.upload_dense(shared)?,
            queries: queries
                .map(|(words, entities)| {
                    Ok::<_, anyhow::Error>((self.upload_dense(words)?, self.upload_dense(entities)?))
                })
                .transpose()?,
            heads: w.heads,
            head_size: h / w.heads,
        })
    }

    /// One strided-batched cuBLAS product of `batch` matrices, `C = op(A)·op(B)` as `g`
    /// gives it, each operand's block at the device address `at` resolves.
    fn gemm_batched(&self, g: CublasGemm, batch: usize, at: impl Fn(Block) -> Result<u64>) -> Result<()> {
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let ptr =
            |o: &crate::compute::attention_plan::Operand| -> Result<u64> { Ok(at(o.block)? + 4 * o.offset as u64) };
        let (pa, pb, pc) = (ptr(&g.a)?, ptr(&g.b)?, ptr(&g.c)?);
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: the plan's operands lie inside the blocks it sized (checked on the CPU by
        // attention_plan's tests).
        unsafe {
            sgemm_strided_batched(
                *self.blas.handle(),
                op(g.transa),
                op(g.transb),
                g.m as i32,
                g.n as i32,
                g.k as i32,
                &alpha,
                pa as *const f32,
                g.a.ld as i32,
                g.a.stride as i64,
                pb as *const f32,
                g.b.ld as i32,
                g.b.stride as i64,
                &beta,
                pc as *mut f32,
                g.c.ld as i32,
                g.c.stride as i64,
                batch as i32,
            )
        }
        .map_err(|e| anyhow!("cuBLAS batched sgemm {batch} × {}×{}·{}×{}: {e:?}", g.m, g.k, g.k, g.n))
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
        check_attend(context.len(), hidden.len(), masks.len(), heads * d, s)?;
        if s.rows() == 0 {
            return Ok(());
        }
        let p = plan(heads, d, a.queries.is_some(), s);
        let owned = p
            .blocks
            .iter()
            // SAFETY: the plan's steps write every value of a block before any step reads it
            // (attention_plan's tests run the plan on the CPU from blocks of NaN).
            .map(|&(block, len)| Ok((block, unsafe { self.written_later::<f32>(len.max(1)) }?)))
            .collect::<Result<Vec<(Block, CudaSlice<f32>)>>>()?;
        let (hidden_at, context_at) = (self.ptr(hidden), self.ptr(context));
        let at = |block: Block| match block {
            Block::Hidden => Ok(hidden_at),
            Block::Context => Ok(context_at),
            other => owned
                .iter()
                .find(|(b, _)| *b == other)
                .map(|(_, buf)| self.ptr(buf))
                .ok_or_else(|| anyhow::anyhow!("attention plan: block {other:?} used but never allocated")),
        };
        for step in p.steps {
            match step {
                Step::Affine(f) => {
                    let dense = match (f.projection, &a.queries) {
                        (Projection::Shared, _) => &a.shared,
                        (Projection::Words, Some((words, _))) => words,
                        (Projection::Entities, Some((_, entities))) => entities,
                        _ => anyhow::bail!("attention: an entity-aware projection without its weights"),
                    };
                    let y = at(f.out)? + 4 * (f.out_row * dense.outputs) as u64;
                    let x = hidden_at + 4 * (f.input_row * dense.inputs) as u64;
                    self.affine_raw(y, x, f.rows, dense)?;
                }
                Step::MoveHeads {
                    heads: into,
                    block,
                    width,
                    col,
                    to_heads,
                } => self.move_heads(at(into)?, at(block)?, width, col, s, a, to_heads)?,
                Step::Gemm {
                    c,
                    a: left,
                    b,
                    m,
                    k,
                    n,
                    batch,
                } => self.gemm_batched(cublas_gemm(c, left, b, m, k, n), batch, at)?,
                Step::Softmax { scale } => {
                    let keys = s.words + s.entities;
                    let rows = s.batch * heads * keys;
                    let (ps, pm, r, kk, nh) = (
                        at(Block::Scores)?,
                        self.ptr(masks),
                        rows as u32,
                        keys as u32,
                        heads as u32,
                    );
                    launch!(self, self.k.attention_softmax, by_rows(rows), ps, pm, r, kk, nh, scale)?;
                }
            }
        }
        drop(owned); // freed in stream order, after the steps queued above
        Ok(())
    }
}
