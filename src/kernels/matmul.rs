//! Row-major matrix products: tsumugi's own [`super::sgemm`] where the CPU has AVX-512 or AVX2,
//! the `gemm` crate (the kernel candle uses on CPU) elsewhere, and [`super::small_gemm`] for
//! products of a few rows.

pub use super::sgemm::Out;
pub use super::sgemm::Start;
use super::sgemm::{self, Right};
pub use super::view::View;
use gemm::Parallelism;

/// Which stored layout an operand has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Stored as written: `a` is `[m, k]`.
    Plain,
    /// Stored transposed: `a` is `[k, m]` and used as its transpose.
    Transposed,
}

/// Products smaller than this many multiply-adds run on one thread: below it, waking a second
/// thread costs more than it saves. Measured with `tsumugi bench classify` (MLP+BN, batch 64,
/// 64×300×200 products) on 2 cores: 0.098 s per epoch on one thread, 0.115 s on two.
const PARALLEL_MIN_FLOPS: usize = 1 << 24;

/// Products with at most this many rows go to [`super::small_gemm`], which does not pack the
/// right operand (a GEMM packs it on every call, as costly as the arithmetic at 20 rows). A right
/// operand that many products share is better packed once: [`FixedB`].
const SMALL_M: usize = 32;
/// Below this many multiply-adds (a classifier's 1×300·300×4 step) gemm's direct path is quicker
/// than dispatching the small kernels.
const SMALL_MIN_FLOPS: usize = 1 << 16;

/// Threads worth waking for an `m × k × n` product.
fn threads_for(m: usize, k: usize, n: usize) -> usize {
    if m * n * k >= PARALLEL_MIN_FLOPS {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// A right operand `[k, n]` that many products share (an inference weight): packed once into
/// sgemm's panels where the CPU runs sgemm, kept as given elsewhere. Packing a LUKE-base weight
/// on every call had been a quarter of the forward pass.
pub struct FixedB {
    k: usize,
    n: usize,
    form: FixedForm,
}

enum FixedForm {
    Packed(sgemm::PackedB),
    Plain { data: Vec<f32>, layout: Layout },
}

impl FixedB {
    /// `data` is `[k, n]`, or `[n, k]` with `Layout::Transposed` (a PyTorch `[out, in]` weight).
    /// It is read once into sgemm's panels, or copied where sgemm does not run.
    pub fn new(data: &[f32], layout: Layout, k: usize, n: usize) -> Self {
        assert_eq!(data.len(), k * n, "FixedB: {} values, expected {k}×{n}", data.len());
        let form = if sgemm::available() {
            FixedForm::Packed(sgemm::PackedB::new(stored(data, k, n, layout)))
        } else {
            FixedForm::Plain {
                data: data.to_vec(),
                layout,
            }
        };
        Self { k, n, form }
    }

    /// `c[m, n] (+)= a[m, k] · self`.
    pub fn left_multiply(&self, c: &mut [f32], a: &[f32], m: usize, accumulate: bool) {
        let threads = threads_for(m, self.k, self.n);
        self.product(c, self.rows_of(a, m), Start::accumulating(accumulate), threads);
    }

    /// [`FixedB::left_multiply`] on the calling thread only, for callers that split the work
    /// among threads themselves.
    pub fn left_multiply_on_this_thread(&self, c: &mut [f32], a: &[f32], m: usize, accumulate: bool) {
        self.product(c, self.rows_of(a, m), Start::accumulating(accumulate), 1);
    }

    /// `c[m, n] = a[m, k] · self + bias` (the same `bias [n]` added to every row, when given):
    /// a dense layer's forward pass, C written once.
    pub fn affine(&self, c: &mut [f32], a: &[f32], m: usize, bias: Option<&[f32]>) {
        let threads = threads_for(m, self.k, self.n);
        self.product(c, self.rows_of(a, m), bias.map_or(Start::Zero, Start::Row), threads);
    }

    /// `a` as a row-major left operand `[m, k]`.
    fn rows_of<'a>(&self, a: &'a [f32], m: usize) -> View<'a> {
        assert_eq!(
            a.len(),
            m * self.k,
            "matmul: a has {} values, expected {m}×{}",
            a.len(),
            self.k
        );
        View::row_major(a, m, self.k)
    }

    /// `c[m, n] = a · self` for a strided `a` `[m, k]` (columns of a wider block).
    pub fn left_multiply_view(&self, c: &mut [f32], a: View) {
        let threads = threads_for(a.rows, self.k, self.n);
        self.product(c, a, Start::Zero, threads);
    }

    fn product(&self, c: &mut [f32], a: View, start: Start, threads: usize) {
        let (m, k, n) = (a.rows, self.k, self.n);
        assert_eq!(a.cols, k, "matmul: a has {} columns, expected {k}", a.cols);
        assert!(a.extent() <= a.data.len(), "matmul: a view out of bounds");
        assert_eq!(c.len(), m * n, "matmul: c has {} values, expected {m}×{n}", c.len());
        if let Start::Row(row) = start {
            assert_eq!(row.len(), n, "matmul: a row of {} to add to {n} columns", row.len());
        }
        if m == 0 || n == 0 {
            return;
        }
        match &self.form {
            FixedForm::Plain { data, layout } => {
                let accumulate = lay_start(c, 0, n, m, start);
                gemm_crate_views(c, 0, n, a, stored(data, k, n, *layout), accumulate, threads);
            }
            FixedForm::Packed(packed) => {
                let out = Out {
                    data: c,
                    offset: 0,
                    row_stride: n,
                };
                sgemm::product(out, a, Right::Packed(packed), start, threads);
            }
        }
    }
}

/// `c[m, n] = a[m, k] · b[k, n]`, or `c += …` when `accumulate`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    product(c, a, la, b, lb, m, k, n, Start::accumulating(accumulate));
}

/// `c[m, n] = row + a[m, k] · b[k, n]`, with `row` `[n]` (a layer's bias) in every row. On
/// sgemm the tile adds `row` as it stores C's first k-block, so C is written once instead of
/// filled with copies of `row` and then read back; the sums are the same either way.
#[allow(clippy::too_many_arguments)]
pub fn matmul_onto_row(
    c: &mut [f32],
    row: &[f32],
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(row.len(), n, "matmul: a row of {} values for {n} columns", row.len());
    product(c, a, la, b, lb, m, k, n, Start::Row(row));
}

/// `c[m, n] = start + a · b` on the path that suits the shape and the CPU.
#[allow(clippy::too_many_arguments)]
fn product(c: &mut [f32], a: &[f32], la: Layout, b: &[f32], lb: Layout, m: usize, k: usize, n: usize, start: Start) {
    assert_eq!(c.len(), m * n, "matmul: c has {} values, expected {m}×{n}", c.len());
    assert_eq!(a.len(), m * k, "matmul: a has {} values, expected {m}×{k}", a.len());
    assert_eq!(b.len(), k * n, "matmul: b has {} values, expected {k}×{n}", b.len());
    if m == 0 || n == 0 {
        return;
    }
    let small = m <= SMALL_M && m * k * n >= SMALL_MIN_FLOPS && la == Layout::Plain && super::small_gemm::available();
    let threads = threads_for(m, k, n);
    if sgemm::available() && !small {
        let (a, b) = (stored(a, m, k, la), stored(b, k, n, lb));
        let out = Out {
            data: c,
            offset: 0,
            row_stride: n,
        };
        return sgemm::product(out, a, Right::View(b), start, threads);
    }
    let accumulate = lay_start(c, 0, n, m, start);
    if small {
        return match lb {
            Layout::Transposed => super::small_gemm::nt(c, a, b, m, k, n, accumulate),
            Layout::Plain => super::small_gemm::nn(c, a, b, m, k, n, accumulate),
        };
    }
    matmul_gemm_crate(c, a, la, b, lb, m, k, n, accumulate, threads);
}

/// [`matmul`] on the `gemm` crate alone (its path on CPUs without AVX-512 or AVX2, and the comparison
/// in `tsumugi bench gemm`); `threads > 1` lets it use the rayon pool.
#[allow(clippy::too_many_arguments)]
pub fn matmul_gemm_crate(
    c: &mut [f32],
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    threads: usize,
) {
    assert!(
        c.len() == m * n && a.len() == m * k && b.len() == k * n,
        "matmul: operand sizes {}, {}, {} do not fit {m}×{k}·{k}×{n}",
        a.len(),
        b.len(),
        c.len()
    );
    gemm_crate_views(c, 0, n, stored(a, m, k, la), stored(b, k, n, lb), accumulate, threads);
}

/// `data` read as the matrix `[rows, cols]`: as written, or stored transposed (`[cols, rows]`).
fn stored(data: &[f32], rows: usize, cols: usize, layout: Layout) -> View<'_> {
    match layout {
        Layout::Plain => View::row_major(data, rows, cols),
        Layout::Transposed => View::row_major(data, cols, rows).t(),
    }
}

/// The `gemm` crate on strided views, `c` row-major at `c_offset` with `c_row_stride`;
/// `threads > 1` lets it use the rayon pool.
fn gemm_crate_views(
    c: &mut [f32],
    c_offset: usize,
    c_row_stride: usize,
    a: View,
    b: View,
    accumulate: bool,
    threads: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions {k} and {}", b.rows);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.extent() <= a.data.len() && b.extent() <= b.data.len() && c_offset + (m - 1) * c_row_stride + n <= c.len(),
        "matmul: view out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[c_offset + i * c_row_stride..][..n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = if threads > 1 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every index the strides reach inside the three slices,
    // and `c` is borrowed mutably so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().add(c_offset),
            1,
            c_row_stride as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `c[i, j] (+)= Σ_k a[i, k]·b[k, j]` over strided views, with `c` row-major at `c_offset` with
/// row stride `c_row_stride`; single-threaded (callers parallelise over heads).
pub fn matmul_view(c: &mut [f32], c_offset: usize, c_row_stride: usize, a: View, b: View, accumulate: bool) {
    let out = Out {
        data: c,
        offset: c_offset,
        row_stride: c_row_stride,
    };
    view_product(out, a, b, Start::accumulating(accumulate), 1);
}

/// `C = start + a · b` over strided views on `threads` threads of the current pool, always on
/// sgemm where the CPU has it (never the few-row kernels), so a product split into blocks of
/// rows sums every element exactly as the whole product would.
pub fn view_product(out: Out, a: View, b: View, start: Start, threads: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul_view: inner dimensions {k} and {}", b.rows);
    assert!(
        a.extent() <= a.data.len() && b.extent() <= b.data.len(),
        "matmul_view: view out of bounds"
    );
    if let Start::Row(row) = start {
        assert_eq!(row.len(), n, "matmul: a row of {} values for {n} columns", row.len());
    }
    if m == 0 || n == 0 {
        return;
    }
    let (c, c_offset, c_row_stride) = (out.data, out.offset, out.row_stride);
    assert!(
        c_offset + (m - 1) * c_row_stride + n <= c.len(),
        "matmul_view: c out of bounds"
    );
    if sgemm::available() {
        let out = Out {
            data: c,
            offset: c_offset,
            row_stride: c_row_stride,
        };
        return sgemm::product(out, a, Right::View(b), start, threads);
    }
    let accumulate = lay_start(c, c_offset, c_row_stride, m, start);
    gemm_crate_views(c, c_offset, c_row_stride, a, b, accumulate, threads);
}

/// For the kernels that only overwrite or add (the `gemm` crate, the few-row kernels): copies
/// a [`Start::Row`] into each of C's `m` rows (at `c_offset`, `c_row_stride` apart) and says
/// whether the product is to be added onto C.
fn lay_start(c: &mut [f32], c_offset: usize, c_row_stride: usize, m: usize, start: Start) -> bool {
    match start {
        Start::Zero => false,
        Start::Existing => true,
        Start::Row(row) => {
            for i in 0..m {
                c[c_offset + i * c_row_stride..][..row.len()].copy_from_slice(row);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
            }
        }
        c
    }

    fn transpose(x: &[f32], r: usize, c: usize) -> Vec<f32> {
        let mut t = vec![0.0; x.len()];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = x[i * c + j];
            }
        }
        t
    }

    #[test]
    fn all_layouts_match_naive() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        for (aa, la) in [(&a, Layout::Plain), (&at, Layout::Transposed)] {
            for (bb, lb) in [(&b, Layout::Plain), (&bt, Layout::Transposed)] {
                let mut c = vec![1.0; m * n];
                matmul(&mut c, aa, la, bb, lb, m, k, n, true);
                for (x, w) in c.iter().zip(&want) {
                    assert!((x - 1.0 - w).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn fixed_operand_matches_naive_in_both_layouts() {
        let (m, k, n) = (40, 33, 70);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        for (data, layout) in [(b.clone(), Layout::Plain), (transpose(&b, k, n), Layout::Transposed)] {
            let fixed = FixedB::new(&data, layout, k, n);
            let mut c = vec![1.0; m * n];
            fixed.left_multiply(&mut c, &a, m, true);
            for (x, w) in c.iter().zip(&want) {
                assert!((x - 1.0 - w).abs() < 1e-4, "{layout:?}: {x} vs {w}");
            }
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.5).collect();
            let mut c = vec![f32::NAN; m * n];
            fixed.affine(&mut c, &a, m, Some(&bias));
            for (i, (x, w)) in c.iter().zip(&want).enumerate() {
                assert!((x - bias[i % n] - w).abs() < 1e-4, "{layout:?} affine: {x} vs {w}");
            }
            // a as columns 3..3+k of a wider block.
            let wide: Vec<f32> = a
                .chunks_exact(k)
                .flat_map(|r| [[9.0; 3].as_slice(), r, &[9.0]].concat())
                .collect();
            let view = View::row_major(&wide, m, k + 4).columns(3, k);
            let mut c = vec![f32::NAN; m * n];
            fixed.left_multiply_view(&mut c, view);
            for (x, w) in c.iter().zip(&want) {
                assert!((x - w).abs() < 1e-4, "{layout:?} strided: {x} vs {w}");
            }
        }
    }

    #[test]
    fn strided_views_match_naive() {
        // a is columns 2..5 of a [4, 6] block; b is the transpose of rows of a [3, 5] block.
        let block: Vec<f32> = (0..24).map(|i| (i as f32 * 0.3).sin()).collect();
        let other: Vec<f32> = (0..15).map(|i| (i as f32 * 0.7).cos()).collect();
        let a = View {
            data: &block,
            offset: 2,
            rows: 4,
            cols: 3,
            row_stride: 6,
            col_stride: 1,
        };
        let b = View {
            data: &other,
            offset: 0,
            rows: 5,
            cols: 3,
            row_stride: 3,
            col_stride: 1,
        }
        .t();
        let mut c = vec![0.5; 2 + 4 * 7];
        matmul_view(&mut c, 2, 7, a, b, true);
        for i in 0..4 {
            for j in 0..5 {
                let want: f32 = (0..3).map(|t| block[2 + i * 6 + t] * other[j * 3 + t]).sum();
                assert!((c[2 + i * 7 + j] - 0.5 - want).abs() < 1e-5);
            }
        }
    }
}
