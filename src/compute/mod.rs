//! Where arithmetic runs: the [`Backend`] trait and its CPU and CUDA implementations.
//!
//! A model written against [`Backend`] runs unchanged on every device: the trait carries the
//! buffers and the operations that differ by device (products, the LSTM recurrence, the
//! vocabulary softmax, dropout masks, the optimizer's pass), and the model composes them. The
//! CPU side is the hand-written code of [`crate::nn`] (sgemm, the fused gate math), called
//! through the trait; the CUDA side is cuBLAS plus kernels compiled at run time by NVRTC
//! (`cuda/kernels.cu`). [`suite`] runs every operation on a backend against plain reference
//! loops, so a new backend proves itself with the same checks.
//!
//! Every matrix is row-major; shapes are written `[rows, cols]` beside each operation.
//! Operations are queued in order on one stream; only [`Backend::download`] and
//! [`Backend::sync`] wait for the device.

pub mod attention_plan;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod cuda_report;
pub mod devices;
pub mod dispatch;
pub mod mask;
mod shapes;
pub mod suite;

pub use crate::kernels::adam::AdamStep;
pub use crate::kernels::matmul::Layout;
pub use crate::kernels::sgd::SgdStep;
pub use crate::nn::activate::Activation;
pub use crate::nn::dense::DenseWeights;
pub use crate::nn::entity_attention::{AttentionShape, AttentionWeights};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// Where a command computes, as its `config.json` records it. (Runs written before this enum was
/// shared spelled it `Cpu` / `Cuda`; both spellings read.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The CPU's hand-written kernels (every CPU result in README).
    #[default]
    #[serde(alias = "Cpu")]
    Cpu,
    /// CUDA device 0 (a build with the `cuda` feature).
    #[serde(alias = "Cuda")]
    Cuda,
}

impl Device {
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }
}

/// The LSTM layer's sizes for one call: `steps · batch` rows of `hidden` (gates `4·hidden`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmShape {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
}

/// A convolution's patch matrix for one call: patch row `p` is `segments` rows of `width`
/// values (ids `p·S..(p+1)·S` of a table) side by side, `K = segments · width` columns, met by
/// a weight `[outputs, K]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchShape {
    pub segments: usize,
    pub width: usize,
    pub outputs: usize,
    /// The images the patches are a convolution's windows over, when they are: a backend may
    /// then compute the products from the images instead of the ids (the CPU's Winograd path
    /// for 3×3 kernels).
    pub images: Option<ConvImages>,
}

/// Patches that are a `kernel × kernel` convolution's windows at stride 1, without padding, over
/// `n` channels-last images of `h × w` (`width` channels): ids in (image, y, x, ky, kx) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvImages {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: usize,
}

impl PatchShape {
    /// `K`, the patch width.
    pub fn cols(&self) -> usize {
        self.segments * self.width
    }

    /// Patch rows of a buffer of `len` values with `outputs` columns (an output or its gradient).
    fn rows_of(&self, len: usize) -> Result<usize> {
        anyhow::ensure!(
            self.outputs > 0 && len.is_multiple_of(self.outputs),
            "{len} values do not make rows of {} outputs",
            self.outputs
        );
        Ok(len / self.outputs)
    }
}

/// [`Backend::batch_norm_relu_max_pool`] as its two parts, the ReLU's output in a scratch
/// buffer.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_relu_max_pool_apart<B: Backend + ?Sized>(
    be: &B,
    (pooled, argmax): (&mut B::Buf, &mut B::Ids),
    x: &B::Buf,
    (gamma, beta): (&B::Buf, &B::Buf),
    running: (&mut B::Buf, &mut B::Buf),
    saved: &mut B::Buf,
    (eps, momentum): (f32, Option<f32>),
    images: (usize, usize, usize),
) -> Result<()> {
    let mut y = be.scratch(be.len(x))?;
    be.batch_norm(&mut y, x, gamma, beta, running, saved, eps, momentum, true)?;
    let done = be.max_pool2x2(pooled, argmax, &y, images, be.len(gamma));
    be.release(y);
    done
}

/// [`Backend::max_pool_batch_norm_backward`] as its two parts: the pooling's backward of
/// `d_pooled`, and of `pooled` to stand in for the ReLU's output (equal to it at each maximum;
/// 0 elsewhere, where the gradient is 0 whatever the ReLU did), then batch norm's through the
/// ReLU.
pub fn max_pool_batch_norm_backward_apart<B: Backend + ?Sized>(
    be: &B,
    dx: &mut B::Buf,
    (d_pooled, pooled, argmax): (&B::Buf, &B::Buf, &B::Ids),
    images: (usize, usize, usize),
    x: &B::Buf,
    (gamma, saved): (&B::Buf, &B::Buf),
    (d_gamma, d_beta): (&mut B::Buf, &mut B::Buf),
) -> Result<()> {
    let (len, channels) = (be.len(x), be.len(gamma));
    let (mut dy, mut relu_out) = (be.scratch(len)?, be.scratch(len)?);
    be.max_pool2x2_backward(&mut dy, d_pooled, argmax, images, channels)?;
    be.max_pool2x2_backward(&mut relu_out, pooled, argmax, images, channels)?;
    let done = be.batch_norm_backward(dx, &dy, x, gamma, saved, d_gamma, d_beta, Some(&relu_out));
    be.release(dy);
    be.release(relu_out);
    done
}

/// [`Backend::patch_gemm_grads`] as its three parts, one after another.
pub fn patch_gemm_grads_apart<B: Backend + ?Sized>(
    be: &B,
    (d_bias, d_weight): (&mut B::Buf, &mut B::Buf),
    dy: &B::Buf,
    x: &B::Buf,
    weight: &B::Buf,
    ids: &B::Ids,
    s: PatchShape,
) -> Result<B::Buf> {
    be.column_sums(d_bias, dy, s.outputs, true)?;
    be.patch_gemm_weight_grad(d_weight, dy, x, ids, s)?;
    let mut dx = be.zeros(be.len(x))?;
    be.patch_gemm_input_grad(&mut dx, dy, weight, ids, s)?;
    Ok(dx)
}

/// Which draw each value of a dropout mask takes.
#[derive(Debug, Clone, Copy)]
pub enum Tiling<'a, I> {
    /// Value `i` takes draw `i`: plain dropout.
    Each,
    /// Value `i` takes draw `i mod period`: with period `B·width` over a time-major
    /// `[T·B, width]` block, one mask per (sequence, feature) at every step (locked dropout).
    Repeat(usize),
    /// Row `r` of `width` values takes draw `ids[r]`: every occurrence of a word is dropped
    /// together (embedding dropout, Merity et al. 2017).
    ByWord { ids: &'a I, width: usize },
}

impl<I> Tiling<'_, I> {
    /// The draw of value `i`, given the ids of [`Tiling::ByWord`] as a slice.
    pub fn draw(&self, i: usize, ids: &[u32]) -> u64 {
        match self {
            Tiling::Each => i as u64,
            Tiling::Repeat(period) => (i % period) as u64,
            Tiling::ByWord { width, .. } => ids[i / width] as u64,
        }
    }
}

/// Buffers and operations of one device.
#[allow(clippy::too_many_arguments)]
pub trait Backend {
    /// `f32` values on the device.
    type Buf;
    /// Token ids (`u32`) on the device.
    type Ids;
    /// A dense layer `y = x·Wᵀ + b` prepared once for [`Backend::affine`]: on the CPU its
    /// weight packed into sgemm's panels, on a GPU uploaded.
    type Dense;
    /// A transformer layer's attention weights prepared once for [`Backend::attend`].
    type Attention;
    /// A mean loss as the softmax leaves it: the `f64` the CPU's slice code computes, or one
    /// `f32` kept on a GPU and read only when asked for (the read waits for the device).
    type Loss;

    /// A short name for messages (`cpu`, `cuda:0 NVIDIA H100 …`).
    fn name(&self) -> String;

    // --- memory -------------------------------------------------------------------------

    fn zeros(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer whose values are unspecified, for an output that is written in full before it
    /// is read; with [`Backend::release`], large per-step buffers are reused instead of being
    /// allocated (and on the CPU page-faulted and zeroed) again every step.
    fn scratch(&self, len: usize) -> Result<Self::Buf>;
    /// Hands a buffer back for a later [`Backend::scratch`].
    fn release(&self, buf: Self::Buf);
    fn upload(&self, values: &[f32]) -> Result<Self::Buf>;
    /// As [`Backend::upload`], taking the values: the CPU keeps them without a copy (a
    /// vocabulary's embedding table is not held twice).
    fn upload_vec(&self, values: Vec<f32>) -> Result<Self::Buf> {
        self.upload(&values)
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<Self::Ids>;
    /// Ids that an operation will write in full (an argmax), made on the device without a
    /// copy from the host.
    fn ids_for_output(&self, len: usize) -> Result<Self::Ids>;
    /// Waits for the queued work and copies the values back.
    fn download(&self, buf: &Self::Buf) -> Result<Vec<f32>>;
    /// `buf`'s values on the host: downloaded, or borrowed where the backend keeps them there
    /// (the CPU), so a checkpoint of CPU weights copies nothing.
    fn host_view<'a>(&self, buf: &'a Self::Buf) -> Result<std::borrow::Cow<'a, [f32]>> {
        Ok(std::borrow::Cow::Owned(self.download(buf)?))
    }
    fn len(&self, buf: &Self::Buf) -> usize;
    /// `dst[dst_at..dst_at + len] = src[src_at..src_at + len]`.
    fn copy(&self, dst: &mut Self::Buf, dst_at: usize, src: &Self::Buf, src_at: usize, len: usize) -> Result<()>;
    /// Waits until every queued operation has finished (timing).
    fn sync(&self) -> Result<()>;

    // --- products -----------------------------------------------------------------------

    /// `c[m, n] (+)= a[m, k] · b[k, n]`, each operand stored as its layout says.
    fn gemm(
        &self,
        c: &mut Self::Buf,
        a: &Self::Buf,
        la: Layout,
        b: &Self::Buf,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
        accumulate: bool,
    ) -> Result<()>;
    /// `c[m, n] = row[n] + a[m, k] · b[k, n]` (a layer's bias in every row).
    fn gemm_onto_row(
        &self,
        c: &mut Self::Buf,
        row: &Self::Buf,
        a: &Self::Buf,
        la: Layout,
        b: &Self::Buf,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()>;

    // --- products with a convolution's patches ---------------------------------------------

    /// `out[P, n] = row[n] + patches[P, K] · weight[n, K]ᵀ` (a convolution's forward as im2col
    /// and one product), the patches over `x` by `ids` as [`PatchShape`] says. This default
    /// gathers the patches whole; the CPU gathers a block of rows at a time, in cache.
    fn patch_gemm(
        &self,
        out: &mut Self::Buf,
        row: &Self::Buf,
        x: &Self::Buf,
        ids: &Self::Ids,
        weight: &Self::Buf,
        s: PatchShape,
    ) -> Result<()> {
        let (rows, k) = (s.rows_of(self.len(out))?, s.cols());
        let mut patches = self.scratch(rows * k)?;
        self.gather_rows(&mut patches, x, ids, s.width)?;
        let done = self.gemm_onto_row(
            out,
            row,
            &patches,
            Layout::Plain,
            weight,
            Layout::Transposed,
            rows,
            k,
            s.outputs,
        );
        self.release(patches);
        done
    }
    /// `d_weight[n, K] = dy[P, n]ᵀ · patches[P, K]` (overwritten): the weight's gradient.
    fn patch_gemm_weight_grad(
        &self,
        d_weight: &mut Self::Buf,
        dy: &Self::Buf,
        x: &Self::Buf,
        ids: &Self::Ids,
        s: PatchShape,
    ) -> Result<()> {
        let (rows, k) = (s.rows_of(self.len(dy))?, s.cols());
        let mut patches = self.scratch(rows * k)?;
        self.gather_rows(&mut patches, x, ids, s.width)?;
        let done = self.gemm(
            d_weight,
            dy,
            Layout::Transposed,
            &patches,
            Layout::Plain,
            s.outputs,
            rows,
            k,
            false,
        );
        self.release(patches);
        done
    }
    /// `dx[ids, :] += dy[P, n] · weight[n, K]`, each patch row's segments added back to the
    /// rows of `dx` they came from: the input's gradient.
    fn patch_gemm_input_grad(
        &self,
        dx: &mut Self::Buf,
        dy: &Self::Buf,
        weight: &Self::Buf,
        ids: &Self::Ids,
        s: PatchShape,
    ) -> Result<()> {
        let (rows, k) = (s.rows_of(self.len(dy))?, s.cols());
        let mut d_patches = self.scratch(rows * k)?;
        self.gemm(
            &mut d_patches,
            dy,
            Layout::Plain,
            weight,
            Layout::Plain,
            rows,
            s.outputs,
            k,
            false,
        )?;
        let done = self.scatter_add_rows(dx, &d_patches, ids, s.width);
        self.release(d_patches);
        done
    }
    /// The gradients of a convolution that is not a first layer, from `dy` `[P, n]`:
    /// `d_bias += Σ dy`, `d_weight` (overwritten) as [`Backend::patch_gemm_weight_grad`] gives it,
    /// and the input's, returned (`[len(x)]`, what [`Backend::patch_gemm_input_grad`] adds to
    /// zeros). One call, so that a backend may share work among them (the CPU's Winograd path
    /// transforms `dy` once for all three and never zero-fills `dx` apart).
    #[allow(clippy::too_many_arguments)]
    fn patch_gemm_grads(
        &self,
        d_bias: &mut Self::Buf,
        d_weight: &mut Self::Buf,
        dy: &Self::Buf,
        x: &Self::Buf,
        weight: &Self::Buf,
        ids: &Self::Ids,
        s: PatchShape,
    ) -> Result<Self::Buf> {
        patch_gemm_grads_apart(self, (d_bias, d_weight), dy, x, weight, ids, s)
    }

    // --- elementwise and reductions -------------------------------------------------------

    /// `y += x`, elementwise.
    fn add(&self, y: &mut Self::Buf, x: &Self::Buf) -> Result<()>;
    /// `y *= x`, elementwise (dropout and its backward).
    fn mul(&self, y: &mut Self::Buf, x: &Self::Buf) -> Result<()>;
    /// `sums[cols] (+)= Σ_rows x[rows, cols]` (a bias's gradient).
    fn column_sums(&self, sums: &mut Self::Buf, x: &Self::Buf, cols: usize, accumulate: bool) -> Result<()>;
    /// `acc[0] += Σ x²` (the clipping norm, summed over parameters on the device).
    fn sum_of_squares(&self, acc: &mut Self::Buf, x: &Self::Buf) -> Result<()>;

    /// `y = max(y, 0)`, elementwise.
    fn relu(&self, y: &mut Self::Buf) -> Result<()>;
    /// `dy *= (y > 0)`, from the ReLU's output `y`.
    fn relu_backward(&self, dy: &mut Self::Buf, y: &Self::Buf) -> Result<()>;

    // --- batch normalisation --------------------------------------------------------------

    /// Batch normalisation of each column of `x` `[R, C]` over its rows (BatchNorm1d on
    /// `[N, C]`; BatchNorm2d on channels-last `[N·H·W, C]`): `out = γ·(x − μ)/√(σ² + eps) + β`.
    /// With `momentum` (training), μ and σ² are the batch's (σ² biased), and the running stats
    /// move toward μ and the unbiased σ² by `momentum`, as torch does; without (evaluation), μ
    /// and σ² are the running stats. `saved` `[2C]` gets (μ, 1/√(σ² + eps)) for the backward.
    /// With `relu`, `out` is the ReLU of that, in the same pass (a BatchNorm → ReLU pair).
    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &self,
        out: &mut Self::Buf,
        x: &Self::Buf,
        gamma: &Self::Buf,
        beta: &Self::Buf,
        running: (&mut Self::Buf, &mut Self::Buf),
        saved: &mut Self::Buf,
        eps: f32,
        momentum: Option<f32>,
        relu: bool,
    ) -> Result<()>;
    /// The training-mode backward: `dx` `[R, C]` from `dy`, with the column sums of `dy·x̂`
    /// and `dy` added to `d_gamma` and `d_beta` `[C]`. With `relu_out` (the output of a
    /// `batch_norm` with `relu`), `dy` is the gradient after the ReLU and is taken as 0 where
    /// `relu_out ≤ 0`, as [`Backend::relu_backward`] would have made it, in the same passes.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        dx: &mut Self::Buf,
        dy: &Self::Buf,
        x: &Self::Buf,
        gamma: &Self::Buf,
        saved: &Self::Buf,
        d_gamma: &mut Self::Buf,
        d_beta: &mut Self::Buf,
        relu_out: Option<&Self::Buf>,
    ) -> Result<()>;
    /// `batch_norm` with `relu` followed by [`Backend::max_pool2x2`] over `n` images of `h × w`,
    /// in one: the pooled values and their argmax, as the two give them (this default runs
    /// them); the CPU's training pass normalises each window's rows in cache and never writes
    /// the ReLU's output whole, with the same bits.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_relu_max_pool(
        &self,
        pool: (&mut Self::Buf, &mut Self::Ids),
        x: &Self::Buf,
        norm: (&Self::Buf, &Self::Buf),
        running: (&mut Self::Buf, &mut Self::Buf),
        saved: &mut Self::Buf,
        eps: f32,
        momentum: Option<f32>,
        images: (usize, usize, usize),
    ) -> Result<()> {
        batch_norm_relu_max_pool_apart(self, pool, x, norm, running, saved, (eps, momentum), images)
    }
    /// The backward of `batch_norm` with `relu` followed by [`Backend::max_pool2x2`] over `n`
    /// images of `h × w`, in one: `dx` from the pooling's output gradient `d_pooled`, its output
    /// `pooled` and its `argmax`, adding to `d_gamma` and `d_beta`. It gives what
    /// [`Backend::max_pool2x2_backward`] and then `batch_norm_backward` with the ReLU's output
    /// give. This default runs those two, with `pooled` sent back to its maxima standing in for
    /// the ReLU's output (the two differ only where the gradient is 0 anyway); the CPU makes
    /// each value's gradient from its window as it needs it, with the same bits, and never
    /// writes the pooling's dense gradient.
    #[allow(clippy::too_many_arguments)]
    fn max_pool_batch_norm_backward(
        &self,
        dx: &mut Self::Buf,
        (d_pooled, pooled, argmax): (&Self::Buf, &Self::Buf, &Self::Ids),
        images: (usize, usize, usize),
        x: &Self::Buf,
        gamma: &Self::Buf,
        saved: &Self::Buf,
        d_gamma: &mut Self::Buf,
        d_beta: &mut Self::Buf,
    ) -> Result<()> {
        let pool = (d_pooled, pooled, argmax);
        max_pool_batch_norm_backward_apart(self, dx, pool, images, x, (gamma, saved), (d_gamma, d_beta))
    }

    // --- embeddings -----------------------------------------------------------------------

    /// `out[i, :] = table[ids[i], :]`, rows of `width`. Every id must be a row of `table`: the
    /// CPU checks; a GPU cannot without a copy back, so callers check ids before upload.
    fn gather_rows(&self, out: &mut Self::Buf, table: &Self::Buf, ids: &Self::Ids, width: usize) -> Result<()>;
    /// `table[ids[i], :] += rows[i, :]` (the embedding's gradient).
    fn scatter_add_rows(&self, table: &mut Self::Buf, rows: &Self::Buf, ids: &Self::Ids, width: usize) -> Result<()>;

    /// Max pooling over time of padded sequences: `out[b, j] = max_{t < lengths[b]}
    /// x[t·B + b, j]` over `x` `[T·B, H]` (time-major, `B` = `lengths.len()`), and
    /// `argmax[b·H + j]` the flat index in `x` of that value, so the backward is
    /// [`Backend::scatter_add_rows`] of width 1. Every length must be in 1..=T: the CPU checks;
    /// a GPU cannot cheaply, so callers check lengths before upload.
    fn max_over_steps(
        &self,
        out: &mut Self::Buf,
        argmax: &mut Self::Ids,
        x: &Self::Buf,
        lengths: &Self::Ids,
        hidden: usize,
    ) -> Result<()>;

    /// 2×2 max pooling with stride 2 of `n` channels-last images `x` `[n·h·w, C]` into `out`
    /// `[n·(h/2)·(w/2), C]` (an odd last row or column dropped, as torch does). `argmax` gets
    /// the flat index in `x` of each maximum, the first of equal values in the order (0, 0),
    /// (0, 1), (1, 0), (1, 1) as torch takes it, for [`Backend::max_pool2x2_backward`].
    fn max_pool2x2(
        &self,
        out: &mut Self::Buf,
        argmax: &mut Self::Ids,
        x: &Self::Buf,
        images: (usize, usize, usize),
        channels: usize,
    ) -> Result<()>;
    /// The backward of [`Backend::max_pool2x2`]: `dx` `[n·h·w, C]` gets `0 + dy` of its window
    /// where `argmax` names it, and 0 elsewhere, every value written: the bits of a
    /// scatter-add of `dy` by `argmax` into zeros, without the zero fill or the scattered
    /// writes.
    fn max_pool2x2_backward(
        &self,
        dx: &mut Self::Buf,
        dy: &Self::Buf,
        argmax: &Self::Ids,
        images: (usize, usize, usize),
        channels: usize,
    ) -> Result<()>;

    // --- dropout --------------------------------------------------------------------------

    /// Fills `mask` with 0 (probability `p`) or 1/(1−p), drawn by [`mask::keep`] from `key` and
    /// the draw number `tiling` gives each value: the same mask on every device, and any
    /// step's mask can be made again from its key alone (exact resume).
    fn dropout_mask(&self, mask: &mut Self::Buf, p: f32, key: u64, tiling: Tiling<'_, Self::Ids>) -> Result<()>;

    // --- the vocabulary softmax -----------------------------------------------------------

    /// A loss of zero, for [`Backend::softmax_xent`] to add to.
    fn zero_loss(&self) -> Result<Self::Loss>;
    /// The loss's value: all of the CPU's `f64`, a GPU's `f32` widened.
    fn read_loss(&self, loss: &Self::Loss) -> Result<f64>;
    /// The loss rounded to `f32`, as the classifiers, fine-tuning and QA report it on every
    /// device.
    fn read_loss_f32(&self, loss: &Self::Loss) -> Result<f32> {
        Ok(self.read_loss(loss)? as f32)
    }
    /// `loss +=` the mean cross-entropy of the rows of `logits` `[N, V]` against `targets`
    /// `[N]`.
    fn softmax_xent(&self, loss: &mut Self::Loss, logits: &Self::Buf, targets: &Self::Ids, v: usize) -> Result<()>;
    /// As [`Backend::softmax_xent`], and the logits are replaced by d mean-loss / d logits
    /// = (softmax − onehot) / N, whose column sums are added to `bias_grad` `[V]` (the
    /// decoder bias's gradient, taken while the rows are at hand).
    fn softmax_xent_grad(
        &self,
        loss: &mut Self::Loss,
        logits: &mut Self::Buf,
        targets: &Self::Ids,
        v: usize,
        bias_grad: &mut Self::Buf,
    ) -> Result<()>;

    // --- the LSTM recurrence --------------------------------------------------------------

    /// All steps of one layer. `gates` `[T·B, 4H]` holds `x · W_ihᵀ + b` and becomes the
    /// activations (i, f, g, o); `out` and `cells` `[T·B, H]` get each step's h and c;
    /// `w_hh` is `[4H, H]` (PyTorch's layout); `h0`, `c0` are `[B, H]`.
    fn lstm_forward(
        &self,
        shape: LstmShape,
        w_hh: &Self::Buf,
        gates: &mut Self::Buf,
        out: &mut Self::Buf,
        cells: &mut Self::Buf,
        h0: &Self::Buf,
        c0: &Self::Buf,
    ) -> Result<()>;
    /// All steps in reverse from `d_out` `[T·B, H]`: every step's d gates into `d_gates`
    /// `[T·B, 4H]`. The final state is detached (truncated BPTT).
    fn lstm_backward(
        &self,
        shape: LstmShape,
        w_hh: &Self::Buf,
        gates: &Self::Buf,
        cells: &Self::Buf,
        c0: &Self::Buf,
        d_out: &Self::Buf,
        d_gates: &mut Self::Buf,
    ) -> Result<()>;

    // --- transformer inference ----------------------------------------------------------

    fn dense(&self, w: DenseWeights) -> Result<Self::Dense>;
    /// `y[rows, out] = x[first .. first + rows, in] · Wᵀ + b` (rows of `x` from `first`, so a
    /// stacked block's row groups need no copies), every value of `y` written.
    fn affine(&self, y: &mut Self::Buf, x: &Self::Buf, first: usize, rows: usize, w: &Self::Dense) -> Result<()>;
    /// LayerNorm in place of rows `first .. first + rows` of `x` `[R, C]`, `C` = `gamma.len()`:
    /// `(x − mean)/√(var + eps)·γ + β`, the variance biased, as PyTorch.
    fn layer_norm(
        &self,
        x: &mut Self::Buf,
        first: usize,
        rows: usize,
        gamma: &Self::Buf,
        beta: &Self::Buf,
        eps: f32,
    ) -> Result<()>;
    /// `x = act(x)`, elementwise.
    fn activate(&self, x: &mut Self::Buf, act: Activation) -> Result<()>;
    fn attention(&self, w: AttentionWeights) -> Result<Self::Attention>;
    /// LUKE's (entity-aware) self-attention core over the stacked block `hidden`
    /// `[B·W + B·N, H]` ([`AttentionShape`]): every row's context `[B·W + B·N, H]` into
    /// `context` (every value written), before the output projection. Row `r` of a sequence
    /// attends to its `W + N` keys with the query its (row group, key group) pair takes, keys
    /// whose `masks` `[B, W + N]` value is 0 left out.
    fn attend(
        &self,
        context: &mut Self::Buf,
        hidden: &Self::Buf,
        a: &Self::Attention,
        masks: &Self::Ids,
        shape: AttentionShape,
    ) -> Result<()>;

    // --- the optimizer --------------------------------------------------------------------

    /// `w -= lr · scale · g`, then `g = 0`, where `scale` is `clip_grad_norm_`'s factor for
    /// the joint norm √`sum_sq[0]` and `max_norm`, or 1 without clipping.
    fn sgd(&self, w: &mut Self::Buf, g: &mut Self::Buf, lr: f32, clip: Option<(&Self::Buf, f32)>) -> Result<()>;
    /// `torch.optim.SGD`'s step as [`crate::kernels::sgd`] computes it, on `g · s.grad_scale`
    /// with weight decay; with `momentum` `Some((buffer, first))` the momentum buffer is set to
    /// the step on the `first` call and carried after, with Nesterov's look-ahead when
    /// `s.nesterov`; then `g = 0`. (The classifiers' optimizer; [`Backend::sgd`] is the
    /// language model's, whose clipping factor never leaves the device.)
    fn torch_sgd(
        &self,
        w: &mut Self::Buf,
        g: &mut Self::Buf,
        momentum: Option<(&mut Self::Buf, bool)>,
        s: SgdStep,
    ) -> Result<()>;
    /// One AdamW step of `w` from `g · s.grad_scale` with the moments `m`, `v` (all one
    /// length), as [`crate::kernels::adam::adamw`] computes it; then `g = 0`.
    fn adamw(
        &self,
        w: &mut Self::Buf,
        g: &mut Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        s: AdamStep,
    ) -> Result<()>;
}

/// `clip_grad_norm_`'s factor for a joint squared norm: `max_norm / (norm + 1e-6)` when that is
/// below 1, else 1. The CUDA kernel computes the same expression.
pub fn clip_scale(sum_sq: f32, max_norm: f32) -> f32 {
    let scale = max_norm / (sum_sq.sqrt() + 1e-6);
    scale.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn devices_read_in_both_spellings_and_write_in_lower_case() {
        for (text, device) in [
            ("\"cpu\"", Device::Cpu),
            ("\"Cpu\"", Device::Cpu),
            ("\"Cuda\"", Device::Cuda),
        ] {
            assert_eq!(serde_json::from_str::<Device>(text).unwrap(), device);
        }
        assert_eq!(serde_json::to_string(&Device::Cuda).unwrap(), "\"cuda\"");
    }
}
