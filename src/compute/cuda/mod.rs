//! [`Backend`] on an NVIDIA GPU: cuBLAS for the products and the kernels of `kernels.cu`,
//! compiled by NVRTC when the backend is made (no CUDA toolkit at build time; the driver,
//! cuBLAS and NVRTC are opened with dlopen).
//!
//! Everything is queued on one stream in call order, so buffers are passed to kernels and
//! cuBLAS as raw device pointers and cudarc's per-buffer event tracking is switched off (it
//! records two events per launch, for multi-stream safety this backend does not need).
//! Products are plain fp32: cuBLAS's default math mode, no TF32.

pub mod driver;

use super::shapes::{
    check_adam, check_affine, check_batch_norm, check_batch_norm_backward, check_bias_grad, check_column_sums,
    check_copy, check_dropout, check_gemm, check_layer_norm, check_lstm, check_lstm_backward, check_max_over_steps,
    check_max_pool, check_row, check_rows, check_same, check_scalar, check_xent,
};
use super::{
    Activation, AdamStep, AttentionShape, AttentionWeights, Backend, DenseWeights, Layout, LstmShape, SgdStep, Tiling,
};
use anyhow::{anyhow, ensure, Result};
use cudarc::cublas::result::sgemm;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::CudaBlas;
use cudarc::driver::{
    result as cu, CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use driver::guarded;
use std::sync::Arc;

/// Queues kernel `$f` with launch shape `$cfg` and the arguments, each a local variable (a
/// device pointer or a scalar) that outlives the call.
macro_rules! launch {
    ($self:ident, $f:expr, $cfg:expr, $($arg:ident),*) => {{
        let mut b = $self.stream.launch_builder(&$f);
        $( b.arg(&$arg); )*
        // SAFETY: every caller checks its buffers' sizes against the kernel's indexing first.
        unsafe { b.launch($cfg) }.map(|_| ()).map_err(err("kernel launch"))
    }};
}

mod transformer;

/// The kernels' source, compiled at run time.
const KERNELS: &str = include_str!("kernels.cu");

/// Threads per block of the elementwise kernels.
const THREADS: u32 = 256;
/// Most blocks an elementwise kernel is launched with; each thread then strides over the rest.
const MAX_BLOCKS: u32 = 4096;

/// Which sums per column `column_partials` takes (its `what`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sums {
    /// Σx
    Values = 0,
    /// Σx and Σx²: batch-norm statistics
    ValuesAndSquares = 1,
    /// Σdy and Σdy·x̂: batch-norm gradient sums
    GradientAndProduct = 2,
}

/// Rows per chunk of the two-pass column reductions and of the scatter's prefix sum: about
/// √rows, and at least 32, so the first pass runs chunks × columns threads and the second adds
/// about √rows values per column.
fn column_chunk(rows: usize) -> usize {
    ((rows as f64).sqrt().ceil() as usize).max(32)
}

struct Kernels {
    fill_rows: CudaFunction,
    add_inplace: CudaFunction,
    mul_inplace: CudaFunction,
    column_partials: CudaFunction,
    column_sums_finish: CudaFunction,
    sum_of_squares: CudaFunction,
    gather_rows: CudaFunction,
    scatter_count: CudaFunction,
    scan_chunk_totals: CudaFunction,
    scan_totals: CudaFunction,
    scan_chunks: CudaFunction,
    scatter_place: CudaFunction,
    scatter_sort_runs: CudaFunction,
    scatter_add_runs: CudaFunction,
    dropout_mask: CudaFunction,
    softmax_xent: CudaFunction,
    lstm_cell_forward: CudaFunction,
    lstm_cell_backward: CudaFunction,
    sgd: CudaFunction,
    torch_sgd: CudaFunction,
    adamw: CudaFunction,
    max_over_steps: CudaFunction,
    max_pool2x2: CudaFunction,
    max_pool2x2_backward: CudaFunction,
    relu: CudaFunction,
    relu_backward: CudaFunction,
    batch_norm_stats: CudaFunction,
    batch_norm_apply: CudaFunction,
    batch_norm_grad_sums: CudaFunction,
    batch_norm_grad_input: CudaFunction,
    layer_norm: CudaFunction,
    activate: CudaFunction,
    move_heads: CudaFunction,
    attention_softmax: CudaFunction,
}

/// One CUDA device, its stream, a cuBLAS handle and the compiled kernels.
pub struct Cuda {
    name: String,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    k: Kernels,
}

fn err(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> anyhow::Error {
    move |e| anyhow!("CUDA {what}: {e:?}")
}

/// The NVRTC target for a compute capability: the device's own, so the driver needs no newer
/// PTX than it speaks.
fn arch(major: i32, minor: i32) -> Result<&'static str> {
    Ok(match (major, minor) {
        (7, 0) => "compute_70",
        (7, 5) => "compute_75",
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90",
        (10, 0) => "compute_100",
        (12, 0) => "compute_120",
        _ => return Err(anyhow!("no NVRTC target known for compute capability {major}.{minor}")),
    })
}

impl Cuda {
    /// Opens device `ordinal` and compiles the kernels for it.
    pub fn new(ordinal: usize) -> Result<Self> {
        guarded(|| {
            let ctx = CudaContext::new(ordinal).map_err(err("context"))?;
            // SAFETY: this backend queues everything on one stream (see the module comment).
            unsafe { ctx.disable_event_tracking() };
            let name = format!("cuda:{ordinal} {}", ctx.name().map_err(err("device name"))?);
            let (major, minor) = ctx.compute_capability().map_err(err("compute capability"))?;
            let opts = CompileOptions {
                arch: Some(arch(major, minor)?),
                name: Some("kernels.cu".into()),
                ..Default::default()
            };
            let ptx = compile_ptx_with_opts(KERNELS, opts).map_err(|e| anyhow!("NVRTC: {e:?}"))?;
            let module = ctx.load_module(ptx).map_err(err("module load"))?;
            let f = |name: &str| {
                module
                    .load_function(name)
                    .map_err(|e| anyhow!("CUDA kernel {name}: {e:?}"))
            };
            let k = Kernels {
                fill_rows: f("fill_rows")?,
                add_inplace: f("add_inplace")?,
                mul_inplace: f("mul_inplace")?,
                column_partials: f("column_partials")?,
                column_sums_finish: f("column_sums_finish")?,
                sum_of_squares: f("sum_of_squares")?,
                gather_rows: f("gather_rows")?,
                scatter_count: f("scatter_count")?,
                scan_chunk_totals: f("scan_chunk_totals")?,
                scan_totals: f("scan_totals")?,
                scan_chunks: f("scan_chunks")?,
                scatter_place: f("scatter_place")?,
                scatter_sort_runs: f("scatter_sort_runs")?,
                scatter_add_runs: f("scatter_add_runs")?,
                dropout_mask: f("dropout_mask")?,
                softmax_xent: f("softmax_xent")?,
                lstm_cell_forward: f("lstm_cell_forward")?,
                lstm_cell_backward: f("lstm_cell_backward")?,
                sgd: f("sgd")?,
                torch_sgd: f("torch_sgd")?,
                adamw: f("adamw")?,
                max_over_steps: f("max_over_steps")?,
                max_pool2x2: f("max_pool2x2")?,
                max_pool2x2_backward: f("max_pool2x2_backward")?,
                relu: f("relu")?,
                relu_backward: f("relu_backward")?,
                batch_norm_stats: f("batch_norm_stats")?,
                batch_norm_apply: f("batch_norm_apply")?,
                batch_norm_grad_sums: f("batch_norm_grad_sums")?,
                batch_norm_grad_input: f("batch_norm_grad_input")?,
                layer_norm: f("layer_norm")?,
                activate: f("activate")?,
                move_heads: f("move_heads")?,
                attention_softmax: f("attention_softmax")?,
            };
            let stream = ctx.default_stream();
            let blas = CudaBlas::new(stream.clone()).map_err(|e| anyhow!("cuBLAS handle: {e:?}"))?;
            Ok(Self { name, stream, blas, k })
        })
    }

    fn ptr<T>(&self, buf: &CudaSlice<T>) -> u64 {
        let (p, _no_event) = buf.device_ptr(&self.stream);
        p
    }

    /// `len` values on the device, not initialised: for a buffer that a kernel queued before
    /// any read writes in full. The stream-ordered allocator makes a fresh allocation as cheap
    /// as a reused one, and frees it in stream order once dropped.
    ///
    /// # Safety
    /// Every value must be written before it is read.
    unsafe fn written_later<T: cudarc::driver::DeviceRepr>(&self, len: usize) -> Result<CudaSlice<T>> {
        // SAFETY: the caller's contract above.
        unsafe { self.stream.alloc::<T>(len) }.map_err(err("allocation"))
    }

    /// The first pass of every column reduction (kernels.cu's `column_partials`) over `x [rows,
    /// cols]`: each column's sums over fixed chunks of rows, in doubles, `[chunks, cols]` for
    /// each of the sums `what` names. The chunks depend on `rows` alone, so the sums do not
    /// change from run to run. `dy`, `saved` and `relu_out` (0 for none) are read only for
    /// [`Sums::GradientAndProduct`].
    #[allow(clippy::too_many_arguments)]
    fn column_partials(
        &self,
        x: u64,
        dy: u64,
        saved: u64,
        relu_out: u64,
        rows: usize,
        cols: usize,
        what: Sums,
    ) -> Result<(CudaSlice<f64>, u32)> {
        let chunk = column_chunk(rows);
        let chunks = rows.div_ceil(chunk);
        let sums = if what == Sums::Values { 1 } else { 2 };
        // SAFETY: column_partials writes every value that a finishing kernel reads.
        let part = unsafe { self.written_later::<f64>((sums * chunks * cols).max(1)) }?;
        let (pp, r, c, ch, w) = (self.ptr(&part), rows as u32, cols as u32, chunk as u32, what as i32);
        let cfg = Self::spread(chunks * cols);
        launch!(
            self,
            self.k.column_partials,
            cfg,
            pp,
            x,
            dy,
            saved,
            relu_out,
            r,
            c,
            ch,
            w
        )?;
        Ok((part, chunks as u32))
    }

    /// A grid-stride launch over `n` values.
    fn spread(n: usize) -> LaunchConfig {
        let blocks = n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS as usize) as u32;
        LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Row-major `c[m, n] = beta·c + a · b` on raw device pointers. cuBLAS is column-major,
    /// where a row-major matrix reads as its transpose: so it computes `cᵀ = bᵀ · aᵀ`, with `b`
    /// first, and a stored-transposed operand becomes a transposed cuBLAS operand.
    #[allow(clippy::too_many_arguments)]
    fn gemm_raw(
        &self,
        c: u64,
        a: u64,
        la: Layout,
        b: u64,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
        beta: f32,
    ) -> Result<()> {
        let op = |l: Layout| match l {
            Layout::Plain => cublasOperation_t::CUBLAS_OP_N,
            Layout::Transposed => cublasOperation_t::CUBLAS_OP_T,
        };
        // leading dimensions of the stored matrices: b is [k, n] or [n, k]; a is [m, k] or [k, m]
        let ldb = if lb == Layout::Plain { n } else { k };
        let lda = if la == Layout::Plain { k } else { m };
        let alpha = 1.0f32;
        // SAFETY: the callers checked a, b and c hold m·k, k·n and m·n values.
        unsafe {
            sgemm(
                *self.blas.handle(),
                op(lb),
                op(la),
                n as i32,
                m as i32,
                k as i32,
                &alpha,
                b as *const f32,
                ldb as i32,
                a as *const f32,
                lda as i32,
                &beta,
                c as *mut f32,
                n as i32,
            )
        }
        .map_err(|e| anyhow!("cuBLAS sgemm {m}×{k}·{k}×{n}: {e:?}"))
    }

    fn elementwise(&self, f: &CudaFunction, y: &mut CudaSlice<f32>, x: &CudaSlice<f32>, what: &str) -> Result<()> {
        check_same(what, y.len(), x.len())?;
        let (py, px, n) = (self.ptr(y), self.ptr(x), y.len() as u64);
        launch!(self, f, Self::spread(y.len()), py, px, n)
    }
}

impl Backend for Cuda {
    type Buf = CudaSlice<f32>;
    type Ids = CudaSlice<u32>;
    type Dense = transformer::CudaDense;
    type Attention = transformer::CudaAttention;
    type Loss = CudaSlice<f32>;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn zeros(&self, len: usize) -> Result<CudaSlice<f32>> {
        self.stream.alloc_zeros(len).map_err(err("allocation"))
    }

    fn scratch(&self, len: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: the caller writes every value before reading it (the trait's contract).
        unsafe { self.written_later(len) }
    }

    fn release(&self, buf: CudaSlice<f32>) {
        drop(buf)
    }

    fn upload(&self, values: &[f32]) -> Result<CudaSlice<f32>> {
        self.stream.clone_htod(values).map_err(err("copy to device"))
    }

    fn upload_ids(&self, ids: &[u32]) -> Result<CudaSlice<u32>> {
        self.stream.clone_htod(ids).map_err(err("copy to device"))
    }

    fn ids_for_output(&self, len: usize) -> Result<CudaSlice<u32>> {
        // SAFETY: the operation the ids are for writes every one (the trait's contract).
        unsafe { self.written_later(len) }
    }

    fn download(&self, buf: &CudaSlice<f32>) -> Result<Vec<f32>> {
        self.stream.clone_dtoh(buf).map_err(err("copy to host"))
    }

    fn len(&self, buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }

    fn copy(
        &self,
        dst: &mut CudaSlice<f32>,
        dst_at: usize,
        src: &CudaSlice<f32>,
        src_at: usize,
        len: usize,
    ) -> Result<()> {
        check_copy(dst.len(), dst_at, src.len(), src_at, len)?;
        let (d, s) = (self.ptr(dst) + 4 * dst_at as u64, self.ptr(src) + 4 * src_at as u64);
        // SAFETY: both ranges were checked above.
        unsafe { cu::memcpy_dtod_async(d, s, 4 * len, self.stream.cu_stream()) }.map_err(err("copy"))
    }

    fn sync(&self) -> Result<()> {
        self.stream.synchronize().map_err(err("synchronize"))
    }

    fn gemm(
        &self,
        c: &mut CudaSlice<f32>,
        a: &CudaSlice<f32>,
        la: Layout,
        b: &CudaSlice<f32>,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
        accumulate: bool,
    ) -> Result<()> {
        check_gemm(c.len(), a.len(), b.len(), m, k, n)?;
        let beta = if accumulate { 1.0 } else { 0.0 };
        self.gemm_raw(self.ptr(c), self.ptr(a), la, self.ptr(b), lb, m, k, n, beta)
    }

    fn gemm_onto_row(
        &self,
        c: &mut CudaSlice<f32>,
        row: &CudaSlice<f32>,
        a: &CudaSlice<f32>,
        la: Layout,
        b: &CudaSlice<f32>,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        check_gemm(c.len(), a.len(), b.len(), m, k, n)?;
        check_row(row.len(), n)?;
        let (pc, pr, rows, cols) = (self.ptr(c), self.ptr(row), m as u32, n as u32);
        launch!(self, self.k.fill_rows, Self::spread(m * n), pc, pr, rows, cols)?;
        self.gemm_raw(pc, self.ptr(a), la, self.ptr(b), lb, m, k, n, 1.0)
    }

    fn add(&self, y: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
        self.elementwise(&self.k.add_inplace, y, x, "add")
    }

    fn mul(&self, y: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
        self.elementwise(&self.k.mul_inplace, y, x, "mul")
    }

    fn column_sums(&self, sums: &mut CudaSlice<f32>, x: &CudaSlice<f32>, cols: usize, accumulate: bool) -> Result<()> {
        check_column_sums(sums.len(), x.len(), cols)?;
        let (part, chunks) = self.column_partials(self.ptr(x), 0, 0, 0, x.len() / cols, cols, Sums::Values)?;
        let (ps, pp, c, acc) = (self.ptr(sums), self.ptr(&part), cols as u32, accumulate as i32);
        launch!(
            self,
            self.k.column_sums_finish,
            Self::spread(cols),
            ps,
            pp,
            chunks,
            c,
            acc
        )
    }

    fn sum_of_squares(&self, acc: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
        check_scalar(acc.len())?;
        // the grid depends on the length alone, so the partials, and their sum, do too
        let blocks = x.len().div_ceil(THREADS as usize).clamp(1, 1024);
        // SAFETY: every block writes its partial.
        let partial = unsafe { self.written_later::<f32>(blocks) }?;
        let (pp, px, n) = (self.ptr(&partial), self.ptr(x), x.len() as u64);
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            ..Self::spread(x.len())
        };
        launch!(self, self.k.sum_of_squares, cfg, pp, px, n)?;
        self.column_sums(acc, &partial, 1, true)
    }

    fn gather_rows(
        &self,
        out: &mut CudaSlice<f32>,
        table: &CudaSlice<f32>,
        ids: &CudaSlice<u32>,
        width: usize,
    ) -> Result<()> {
        check_rows("gather", ids.len(), out.len(), width)?;
        let (po, pt, pi, rows, w) = (
            self.ptr(out),
            self.ptr(table),
            self.ptr(ids),
            ids.len() as u32,
            width as u32,
        );
        launch!(self, self.k.gather_rows, Self::spread(out.len()), po, pt, pi, rows, w)
    }

    fn scatter_add_rows(
        &self,
        table: &mut CudaSlice<f32>,
        rows: &CudaSlice<f32>,
        ids: &CudaSlice<u32>,
        width: usize,
    ) -> Result<()> {
        check_rows("scatter", ids.len(), rows.len(), width)?;
        let (n, m) = (ids.len(), table.len() / width.max(1));
        if n == 0 || m == 0 {
            return Ok(());
        }
        // the rows grouped by destination (kernels.cu's counting sort), then each
        // destination's rows added in row order: the CPU's bits, every run
        let alloc = |len: usize| {
            // SAFETY: each kernel below writes what the next reads (see kernels.cu).
            unsafe { self.written_later::<u32>(len) }
        };
        let zeros = |len: usize| self.stream.alloc_zeros::<u32>(len).map_err(err("allocation"));
        let (counts, cursor) = (zeros(m)?, zeros(m)?);
        let chunk = column_chunk(m);
        let chunks = m.div_ceil(chunk);
        let (totals, offsets, index) = (alloc(chunks)?, alloc(m + 1)?, alloc(n)?);
        let (pc, pu, pt, po, px) = (
            self.ptr(&counts),
            self.ptr(&cursor),
            self.ptr(&totals),
            self.ptr(&offsets),
            self.ptr(&index),
        );
        let (pi, nn, mm, ch, cc) = (self.ptr(ids), n as u32, m as u32, chunk as u32, chunks as u32);
        launch!(self, self.k.scatter_count, Self::spread(n), pc, pi, nn, mm)?;
        launch!(self, self.k.scan_chunk_totals, Self::spread(chunks), pt, pc, mm, ch)?;
        launch!(self, self.k.scan_totals, Self::spread(1), pt, cc)?;
        launch!(self, self.k.scan_chunks, Self::spread(chunks), po, pc, pt, mm, ch)?;
        launch!(self, self.k.scatter_place, Self::spread(n), px, pu, po, pi, nn, mm)?;
        launch!(self, self.k.scatter_sort_runs, Self::spread(m), px, po, mm)?;
        let (ptab, ps, w) = (self.ptr(table), self.ptr(rows), width as u32);
        let cfg = Self::spread(m * width);
        launch!(self, self.k.scatter_add_runs, cfg, ptab, ps, px, po, mm, w)
    }

    fn relu(&self, y: &mut CudaSlice<f32>) -> Result<()> {
        let (py, n) = (self.ptr(y), y.len() as u64);
        launch!(self, self.k.relu, Self::spread(y.len()), py, n)
    }

    fn relu_backward(&self, dy: &mut CudaSlice<f32>, y: &CudaSlice<f32>) -> Result<()> {
        self.elementwise(&self.k.relu_backward, dy, y, "relu backward")
    }

    fn batch_norm(
        &self,
        out: &mut CudaSlice<f32>,
        x: &CudaSlice<f32>,
        gamma: &CudaSlice<f32>,
        beta: &CudaSlice<f32>,
        (running_mean, running_var): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
        saved: &mut CudaSlice<f32>,
        eps: f32,
        momentum: Option<f32>,
        relu: bool,
    ) -> Result<()> {
        let columns = [gamma.len(), beta.len(), running_mean.len(), running_var.len()];
        check_batch_norm(x.len(), out.len(), &columns, saved.len())?;
        let (cols, rows) = (gamma.len(), x.len() / gamma.len());
        ensure!(
            momentum.is_none() || rows > 1,
            "batch norm in training needs 2 rows or more, not {rows}"
        );
        let px = self.ptr(x);
        // evaluation reads the running statistics only: no partial sums
        let (part, chunks) = match momentum {
            Some(_) => {
                let (part, chunks) = self.column_partials(px, 0, 0, 0, rows, cols, Sums::ValuesAndSquares)?;
                (Some(part), chunks)
            }
            None => (None, 0),
        };
        let pp = part.as_ref().map_or(0, |p| self.ptr(p));
        let (ps, pm, pv) = (self.ptr(saved), self.ptr(running_mean), self.ptr(running_var));
        let (r, c, train, mom) = (
            rows as u32,
            cols as u32,
            momentum.is_some() as i32,
            momentum.unwrap_or(0.0),
        );
        launch!(
            self,
            self.k.batch_norm_stats,
            Self::spread(cols),
            ps,
            pm,
            pv,
            pp,
            chunks,
            r,
            c,
            eps,
            mom,
            train
        )?;
        let (po, pg, pb, n, then_relu) = (
            self.ptr(out),
            self.ptr(gamma),
            self.ptr(beta),
            x.len() as u64,
            relu as i32,
        );
        launch!(
            self,
            self.k.batch_norm_apply,
            Self::spread(x.len()),
            po,
            px,
            pg,
            pb,
            ps,
            n,
            c,
            then_relu
        )
    }

    fn batch_norm_backward(
        &self,
        dx: &mut CudaSlice<f32>,
        dy: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        gamma: &CudaSlice<f32>,
        saved: &CudaSlice<f32>,
        d_gamma: &mut CudaSlice<f32>,
        d_beta: &mut CudaSlice<f32>,
        relu_out: Option<&CudaSlice<f32>>,
    ) -> Result<()> {
        let columns = [gamma.len(), d_gamma.len(), d_beta.len()];
        check_batch_norm_backward(
            x.len(),
            dx.len(),
            dy.len(),
            &columns,
            saved.len(),
            relu_out.map(|y| y.len()),
        )?;
        let (cols, rows) = (gamma.len(), x.len() / gamma.len());
        let (pdy, px, ps) = (self.ptr(dy), self.ptr(x), self.ptr(saved));
        let py = relu_out.map_or(0, |y| self.ptr(y));
        let (part, chunks) = self.column_partials(px, pdy, ps, py, rows, cols, Sums::GradientAndProduct)?;
        // SAFETY: batch_norm_grad_sums writes all 2·cols values before batch_norm_grad_input reads them.
        let sums = unsafe { self.written_later::<f32>(2 * cols) }?;
        let (pu, pg, pb, pp, c) = (
            self.ptr(&sums),
            self.ptr(d_gamma),
            self.ptr(d_beta),
            self.ptr(&part),
            cols as u32,
        );
        let cfg = Self::spread(cols);
        launch!(self, self.k.batch_norm_grad_sums, cfg, pu, pg, pb, pp, chunks, c)?;
        let (pdx, pgamma, n) = (self.ptr(dx), self.ptr(gamma), x.len() as u64);
        launch!(
            self,
            self.k.batch_norm_grad_input,
            Self::spread(x.len()),
            pdx,
            pdy,
            px,
            pgamma,
            ps,
            pu,
            py,
            n,
            c
        )
    }

    fn max_over_steps(
        &self,
        out: &mut CudaSlice<f32>,
        argmax: &mut CudaSlice<u32>,
        x: &CudaSlice<f32>,
        lengths: &CudaSlice<u32>,
        hidden: usize,
    ) -> Result<()> {
        let batch = lengths.len();
        check_max_over_steps(out.len(), argmax.len(), x.len(), batch, hidden)?;
        let (po, pa, px, pl) = (self.ptr(out), self.ptr(argmax), self.ptr(x), self.ptr(lengths));
        let (b, h) = (batch as u32, hidden as u32);
        launch!(
            self,
            self.k.max_over_steps,
            Self::spread(out.len()),
            po,
            pa,
            px,
            pl,
            b,
            h
        )
    }

    fn max_pool2x2(
        &self,
        out: &mut CudaSlice<f32>,
        argmax: &mut CudaSlice<u32>,
        x: &CudaSlice<f32>,
        (n, h, w): (usize, usize, usize),
        channels: usize,
    ) -> Result<()> {
        check_max_pool(out.len(), argmax.len(), x.len(), (n, h, w), channels)?;
        let (po, pa, px) = (self.ptr(out), self.ptr(argmax), self.ptr(x));
        let (n, h, w, c) = (n as u32, h as u32, w as u32, channels as u32);
        launch!(
            self,
            self.k.max_pool2x2,
            Self::spread(out.len()),
            po,
            pa,
            px,
            n,
            h,
            w,
            c
        )
    }

    fn max_pool2x2_backward(
        &self,
        dx: &mut CudaSlice<f32>,
        dy: &CudaSlice<f32>,
        argmax: &CudaSlice<u32>,
        (n, h, w): (usize, usize, usize),
        channels: usize,
    ) -> Result<()> {
        check_max_pool(dy.len(), argmax.len(), dx.len(), (n, h, w), channels)?;
        let (pdx, pdy, pa) = (self.ptr(dx), self.ptr(dy), self.ptr(argmax));
        let (n, h, w, c) = (n as u32, h as u32, w as u32, channels as u32);
        let cfg = Self::spread(dx.len());
        launch!(self, self.k.max_pool2x2_backward, cfg, pdx, pdy, pa, n, h, w, c)
    }

    fn dropout_mask(
        &self,
        mask: &mut CudaSlice<f32>,
        p: f32,
        key: u64,
        tiling: Tiling<'_, CudaSlice<u32>>,
    ) -> Result<()> {
        check_dropout(p, &tiling, mask.len(), CudaSlice::len)?;
        // mode 0: draw i; 1: draw i mod period; 2: draw ids[i / width]
        let (mode, period, ids, width) = match tiling {
            Tiling::Each => (0i32, 1u64, 0u64, 1u64),
            Tiling::Repeat(period) => (1, period as u64, 0, 1),
            Tiling::ByWord { ids, width } => (2, 1, self.ptr(ids), width as u64),
        };
        let (pm, n, scale) = (self.ptr(mask), mask.len() as u64, 1.0 / (1.0 - p));
        launch!(
            self,
            self.k.dropout_mask,
            Self::spread(mask.len()),
            pm,
            n,
            p,
            scale,
            key,
            mode,
            period,
            ids,
            width
        )
    }

    fn zero_loss(&self) -> Result<CudaSlice<f32>> {
        self.zeros(1)
    }

    fn read_loss(&self, loss: &CudaSlice<f32>) -> Result<f64> {
        Ok(self.download(loss)?[0] as f64)
    }

    fn softmax_xent(
        &self,
        loss: &mut CudaSlice<f32>,
        logits: &CudaSlice<f32>,
        targets: &CudaSlice<u32>,
        v: usize,
    ) -> Result<()> {
        self.xent(loss, logits, targets, v, false)
    }

    fn softmax_xent_grad(
        &self,
        loss: &mut CudaSlice<f32>,
        logits: &mut CudaSlice<f32>,
        targets: &CudaSlice<u32>,
        v: usize,
        bias_grad: &mut CudaSlice<f32>,
    ) -> Result<()> {
        check_bias_grad(bias_grad.len(), v)?;
        self.xent(loss, logits, targets, v, true)?;
        self.column_sums(bias_grad, logits, v, true)
    }

    fn lstm_forward(
        &self,
        shape: LstmShape,
        w_hh: &CudaSlice<f32>,
        gates: &mut CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
        cells: &mut CudaSlice<f32>,
        h0: &CudaSlice<f32>,
        c0: &CudaSlice<f32>,
    ) -> Result<()> {
        check_lstm(
            shape,
            w_hh.len(),
            gates.len(),
            out.len(),
            cells.len(),
            h0.len(),
            c0.len(),
        )?;
        let LstmShape { steps, batch, hidden } = shape;
        let (step_h, step_g) = (4 * (batch * hidden) as u64, 4 * (batch * 4 * hidden) as u64);
        let (w, g, o, c) = (self.ptr(w_hh), self.ptr(gates), self.ptr(out), self.ptr(cells));
        let (bt, ht) = (batch as u32, hidden as u32);
        for t in 0..steps as u64 {
            let (h_prev, c_prev) = if t == 0 {
                (self.ptr(h0), self.ptr(c0))
            } else {
                (o + (t - 1) * step_h, c + (t - 1) * step_h)
            };
            let g_t = g + t * step_g;
            // gates_t[B, 4H] += h_{t-1}[B, H] · W_hhᵀ
            self.gemm_raw(
                g_t,
                h_prev,
                Layout::Plain,
                w,
                Layout::Transposed,
                batch,
                hidden,
                4 * hidden,
                1.0,
            )?;
            let (c_t, h_t) = (c + t * step_h, o + t * step_h);
            launch!(
                self,
                self.k.lstm_cell_forward,
                Self::spread(batch * hidden),
                g_t,
                c_prev,
                c_t,
                h_t,
                bt,
                ht
            )?;
        }
        Ok(())
    }

    fn lstm_backward(
        &self,
        shape: LstmShape,
        w_hh: &CudaSlice<f32>,
        gates: &CudaSlice<f32>,
        cells: &CudaSlice<f32>,
        c0: &CudaSlice<f32>,
        d_out: &CudaSlice<f32>,
        d_gates: &mut CudaSlice<f32>,
    ) -> Result<()> {
        check_lstm_backward(
            shape,
            w_hh.len(),
            gates.len(),
            cells.len(),
            c0.len(),
            d_out.len(),
            d_gates.len(),
        )?;
        let LstmShape { steps, batch, hidden } = shape;
        let dh_next = self.zeros(batch * hidden)?;
        let dc_next = self.zeros(batch * hidden)?;
        let (step_h, step_g) = (4 * (batch * hidden) as u64, 4 * (batch * 4 * hidden) as u64);
        let (w, g, c, dy, dg) = (
            self.ptr(w_hh),
            self.ptr(gates),
            self.ptr(cells),
            self.ptr(d_out),
            self.ptr(d_gates),
        );
        let (dh, dc) = (self.ptr(&dh_next), self.ptr(&dc_next));
        let (bt, ht) = (batch as u32, hidden as u32);
        for t in (0..steps as u64).rev() {
            let c_prev = if t == 0 { self.ptr(c0) } else { c + (t - 1) * step_h };
            let first = (t + 1 == steps as u64) as i32;
            let (g_t, c_t, dy_t, dg_t) = (g + t * step_g, c + t * step_h, dy + t * step_h, dg + t * step_g);
            launch!(
                self,
                self.k.lstm_cell_backward,
                Self::spread(batch * hidden),
                g_t,
                c_prev,
                c_t,
                dy_t,
                dh,
                dc,
                dg_t,
                bt,
                ht,
                first
            )?;
            // dh_{t-1}[B, H] = d gates_t[B, 4H] · W_hh[4H, H]
            self.gemm_raw(
                dh,
                dg_t,
                Layout::Plain,
                w,
                Layout::Plain,
                batch,
                4 * hidden,
                hidden,
                0.0,
            )?;
        }
        // dropping the scratch states queues their free behind the work that reads them
        // (stream-ordered allocation)
        Ok(())
    }

    fn dense(&self, w: DenseWeights) -> Result<transformer::CudaDense> {
        self.upload_dense(w)
    }

    fn affine(
        &self,
        y: &mut CudaSlice<f32>,
        x: &CudaSlice<f32>,
        first: usize,
        rows: usize,
        w: &transformer::CudaDense,
    ) -> Result<()> {
        check_affine(y.len(), x.len(), first, rows, w.inputs, w.outputs)?;
        if rows == 0 {
            return Ok(());
        }
        let px = self.ptr(x) + 4 * (first * w.inputs) as u64;
        self.affine_raw(self.ptr(y), px, rows, w)
    }

    fn layer_norm(
        &self,
        x: &mut CudaSlice<f32>,
        first: usize,
        rows: usize,
        gamma: &CudaSlice<f32>,
        beta: &CudaSlice<f32>,
        eps: f32,
    ) -> Result<()> {
        let cols = gamma.len();
        check_layer_norm(x.len(), first, rows, cols, beta.len())?;
        if rows == 0 {
            return Ok(());
        }
        let px = self.ptr(x) + 4 * (first * cols) as u64;
        let (pg, pb, r, c) = (self.ptr(gamma), self.ptr(beta), rows as u32, cols as u32);
        launch!(
            self,
            self.k.layer_norm,
            transformer::by_rows(rows),
            px,
            pg,
            pb,
            r,
            c,
            eps
        )
    }

    fn activate(&self, x: &mut CudaSlice<f32>, act: Activation) -> Result<()> {
        self.activate_values(x, act)
    }

    fn attention(&self, w: AttentionWeights) -> Result<transformer::CudaAttention> {
        self.upload_attention(w)
    }

    fn attend(
        &self,
        context: &mut CudaSlice<f32>,
        hidden: &CudaSlice<f32>,
        a: &transformer::CudaAttention,
        masks: &CudaSlice<u32>,
        shape: AttentionShape,
    ) -> Result<()> {
        self.attend_core(context, hidden, a, masks, shape)
    }

    fn sgd(
        &self,
        w: &mut CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
        lr: f32,
        clip: Option<(&CudaSlice<f32>, f32)>,
    ) -> Result<()> {
        check_same("sgd", w.len(), g.len())?;
        let (pw, pg, n) = (self.ptr(w), self.ptr(g), w.len() as u64);
        let (ps, max_norm, on) = match clip {
            Some((s, m)) => (self.ptr(s), m, 1i32),
            None => (0u64, 0.0f32, 0i32),
        };
        launch!(self, self.k.sgd, Self::spread(w.len()), pw, pg, n, lr, ps, max_norm, on)
    }

    fn torch_sgd(
        &self,
        w: &mut CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
        momentum: Option<(&mut CudaSlice<f32>, bool)>,
        s: SgdStep,
    ) -> Result<()> {
        check_same("sgd", w.len(), g.len())?;
        let (pw, pg, n) = (self.ptr(w), self.ptr(g), w.len() as u64);
        let (pb, has, first) = match momentum {
            Some((b, first)) => {
                check_same("sgd momentum buffer", b.len(), w.len())?;
                (self.ptr(b), 1i32, first as i32)
            }
            None => (0u64, 0i32, 0i32),
        };
        let (lr, mom, nesterov, wd, gs) = (s.lr, s.momentum, s.nesterov as i32, s.weight_decay, s.grad_scale);
        launch!(
            self,
            self.k.torch_sgd,
            Self::spread(w.len()),
            pw,
            pg,
            pb,
            n,
            lr,
            mom,
            nesterov,
            wd,
            gs,
            has,
            first
        )
    }

    fn adamw(
        &self,
        w: &mut CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
        m: &mut CudaSlice<f32>,
        v: &mut CudaSlice<f32>,
        s: AdamStep,
    ) -> Result<()> {
        check_adam(w.len(), g.len(), m.len(), v.len())?;
        let (pw, pg, pm, pv, n) = (self.ptr(w), self.ptr(g), self.ptr(m), self.ptr(v), w.len() as u64);
        let (lr, b1, b2, eps, wd, bc1, bc2) = (s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.bc1, s.bc2);
        let gs = s.grad_scale;
        launch!(
            self,
            self.k.adamw,
            Self::spread(w.len()),
            pw,
            pg,
            pm,
            pv,
            n,
            lr,
            b1,
            b2,
            eps,
            wd,
            bc1,
            bc2,
            gs
        )
    }
}

impl Cuda {
    fn xent(
        &self,
        loss: &mut CudaSlice<f32>,
        logits: &CudaSlice<f32>,
        targets: &CudaSlice<u32>,
        v: usize,
        grad: bool,
    ) -> Result<()> {
        check_xent(loss.len(), logits.len(), targets.len(), v)?;
        if targets.is_empty() {
            return Ok(()); // no rows, no terms (and no launch of zero blocks)
        }
        // SAFETY: each row's block writes its loss term.
        let row_loss = unsafe { self.written_later::<f32>(targets.len()) }?;
        let (pl, px, pt, rows, vv, g) = (
            self.ptr(&row_loss),
            self.ptr(logits),
            self.ptr(targets),
            targets.len() as u32,
            v as u32,
            grad as i32,
        );
        let cfg = LaunchConfig {
            grid_dim: (targets.len() as u32, 1, 1),
            block_dim: (1024, 1, 1),
            shared_mem_bytes: 0,
        };
        launch!(self, self.k.softmax_xent, cfg, pl, px, pt, rows, vv, g)?;
        // the rows' terms added in a fixed order, onto loss[0]
        self.column_sums(loss, &row_loss, 1, true)
    }
}
