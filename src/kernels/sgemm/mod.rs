//! tsumugi's own single-precision GEMM for x86 CPUs with AVX-512 or AVX2, blocked as BLIS does:
//! B in `KC × NC` blocks packed into NR-column panels, A in `MC × KC` blocks packed into MR-row
//! panels, and an MR × NR register tile: 14 × 32 with AVX-512 ([`kernel_avx512`]), 6 × 16 with
//! AVX2 ([`kernel_avx2`]). Two things the `gemm` crate does not offer are why it exists: a
//! weight can be packed once ([`PackedB`]) instead of on every call, and the tile suits the
//! 130-row products of LUKE at batch 1, where `tsumugi bench gemm` measured it at 1.1–2.2× the
//! crate's rate over three runs; at 700 rows the two took turns within this host's noise
//! (BENCHMARKS.md). Other CPUs keep using `gemm` (see `matmul`).
//!
//! Every output element is summed in the same order whatever the thread count or tile: k in
//! KC-deep blocks, each block's sum added to C — so results do not depend on scheduling.

#[cfg(target_arch = "x86_64")]
mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
mod kernel_avx512;
mod pack;
mod packed_b;
mod peak;
mod tile;
#[cfg(target_arch = "x86_64")]
mod transpose_avx2;
#[cfg(target_arch = "x86_64")]
mod transpose_avx512;

use super::view::View;
use pack::{a_panels, pack_a, pack_b};
pub use packed_b::PackedB;
pub use peak::{all_threads_fma_peak, tile_and_peak_rates};
pub use tile::Isa;
use tile::Tile;

/// Most rows of a packed A block (1.5 MiB at KC): it is read from L3 one MR-row panel at a
/// time, and that panel stays in L1 while it is broadcast.
const MC_MAX: usize = 1024;

/// Whether this CPU runs these kernels (AVX-512F, or AVX2 with FMA).
pub fn available() -> bool {
    Isa::detected().is_some()
}

/// The right operand of a product: read in place and packed per block, or packed already.
#[derive(Clone, Copy)]
pub enum Right<'a> {
    View(View<'a>),
    Packed(&'a PackedB),
}

impl Right<'_> {
    fn shape(&self) -> (usize, usize) {
        match self {
            Right::View(v) => (v.rows, v.cols),
            Right::Packed(p) => (p.k, p.n),
        }
    }
}

/// What C starts from before `A·B` is added to it.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// Nothing: C is overwritten.
    Zero,
    /// What C holds already.
    Existing,
    /// The same row `[n]` in every row (a layer's bias), added as the first k-block is stored:
    /// C is written once instead of filled with copies and then read back.
    Row(&'a [f32]),
}

impl Start<'_> {
    /// `Existing` when `accumulate`, else `Zero`.
    pub fn accumulating(accumulate: bool) -> Self {
        if accumulate {
            Start::Existing
        } else {
            Start::Zero
        }
    }
}

/// The output: row-major with `row_stride`, starting at `offset` of `data`.
pub struct Out<'a> {
    pub data: &'a mut [f32],
    pub offset: usize,
    pub row_stride: usize,
}

/// `C[m, n] = start + A[m, k] · B[k, n]` on up to `threads` threads of the current rayon pool,
/// split so that the operand every thread reads whole is the smaller one: by columns (each
/// thread packs all of A) when B is the wider, by rows (each packs all of B) when A is the
/// taller (a packed B is cheaper to read whole, so then from a third of its width) — unless
/// that side has too few tiles for all threads.
///
/// Runs on the tile a packed B was packed for, else on the widest this CPU has.
///
/// Panics if the shapes disagree or a view reaches outside its slice, or without AVX2 or
/// AVX-512F.
pub fn product(out: Out, a: View, b: Right, start: Start, threads: usize) {
    let isa = match b {
        Right::Packed(p) => p.isa,
        Right::View(_) => Isa::detected().expect("sgemm needs AVX2 or AVX-512F"),
    };
    product_on(isa, out, a, b, start, threads)
}

/// [`product`] on `isa`'s tile.
fn product_on(isa: Isa, out: Out, a: View, b: Right, start: Start, threads: usize) {
    let (k, n) = b.shape();
    let m = a.rows;
    assert!(isa.present(), "sgemm: this CPU does not run {isa:?}");
    if let Right::Packed(p) = &b {
        assert_eq!(p.isa, isa, "sgemm: B packed for another tile");
    }
    assert_eq!(a.cols, k, "sgemm: inner dimensions {} and {k}", a.cols);
    assert!(a.extent() <= a.data.len(), "sgemm: A view out of bounds");
    if let Right::View(v) = &b {
        assert!(v.extent() <= v.data.len(), "sgemm: B view out of bounds");
    }
    if let Start::Row(row) = start {
        assert_eq!(row.len(), n, "sgemm: a start row of {} for {n} columns", row.len());
    }
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        out.offset + (m - 1) * out.row_stride + n <= out.data.len() && out.row_stride >= n,
        "sgemm: C out of bounds"
    );
    if k == 0 {
        for i in 0..m {
            let c = &mut out.data[out.offset + i * out.row_stride..][..n];
            match start {
                Start::Zero => c.fill(0.0),
                Start::Existing => {}
                Start::Row(row) => c.copy_from_slice(row),
            }
        }
        return;
    }
    let c = OutPtr(out.data[out.offset..].as_mut_ptr());
    let ldc = out.row_stride;
    let (mr, nr) = (isa.mr(), isa.nr());
    let panels = n.div_ceil(nr);
    let threads = threads.max(1);
    if threads == 1 {
        // SAFETY: bounds asserted above; one thread owns all of C; the CPU runs `isa`.
        return unsafe { run(isa, c, ldc, &a, &b, 0..m, 0..n, start) };
    }
    let rows_can_split = m >= 2 * mr * threads;
    let columns_can_split = panels >= 2 * threads;
    // Per thread, a split by rows reads all of B and packs half of A; by columns, half of B
    // and all of A. Packing a float costs about three reads of one, so for a B packed already
    // rows win once m > n/3; a B read in place has to be packed either way: m > n.
    let rows_cheaper = match b {
        Right::Packed(_) => 3 * m > n,
        Right::View(_) => m > n,
    };
    let by_columns = !rows_can_split || (columns_can_split && !rows_cheaper);
    rayon::scope(|s| {
        for t in 0..threads {
            let (rows, cols) = if by_columns {
                let per = panels.div_ceil(threads) * nr;
                (0..m, (t * per).min(n)..((t + 1) * per).min(n))
            } else {
                let per = m.div_ceil(threads).div_ceil(mr) * mr;
                ((t * per).min(m)..((t + 1) * per).min(m), 0..n)
            };
            if rows.is_empty() || cols.is_empty() {
                continue;
            }
            let (a, b) = (&a, &b);
            // SAFETY: bounds asserted above; the threads' (rows, cols) blocks of C are disjoint;
            // the CPU runs `isa`.
            s.spawn(move |_| unsafe { run(isa, c, ldc, a, b, rows, cols, start) });
        }
    });
}

/// C's base pointer, shared by threads that write disjoint blocks.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: `product` hands each thread a disjoint block of C.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// A's rows per packed block: the fewest blocks of at most MC_MAX rows, evenly sized in whole
/// tiles.
fn rows_per_block(rows: usize, mr: usize) -> usize {
    let blocks = rows.div_ceil(MC_MAX);
    rows.div_ceil(blocks).div_ceil(mr) * mr
}

/// One thread's block `C[rows, cols]`. Loop order, outer to inner: KC-deep blocks of k; blocks
/// of A's rows, packed; NC columns of B, packed (they stay in L2); each MR-row A panel (it stays
/// in L1); the NR-column B panels, streaming from L2. The tile broadcasts A's values, so A is
/// the operand kept nearest. Keeping B's panel in L1 instead (32 KiB at the KC of then, 256) and
/// streaming A panels, as this loop did before, was slower: alternating the two in one process,
/// the median paired time ratio was 0.85–0.94 on the LSTM's products and 0.90–1.0 on LUKE's.
/// The price: a B read in place is packed again for each A block (only blocks past MC_MAX
/// rows, such as a thread's 5000 rows of the decoder's weight gradient); a `PackedB` is not.
///
/// # Safety
/// The CPU must run `isa`; C must be writable at every `(i, j)` in the block at stride `ldc`,
/// and no other thread may touch the block.
#[allow(clippy::too_many_arguments)]
unsafe fn run(
    isa: Isa,
    c: OutPtr,
    ldc: usize,
    a: &View,
    b: &Right,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    start: Start,
) {
    let k = a.cols;
    let (mr, nr, kc_max, nc_max) = (isa.mr(), isa.nr(), isa.kc_for(k), isa.nc());
    let mc_max = rows_per_block(rows.len(), mr);
    let b_len = match b {
        Right::View(_) => kc_max * nc_max.min(cols.len().div_ceil(nr) * nr),
        Right::Packed(_) => 0,
    };
    PANELS.with_borrow_mut(|(a_packed, b_panels)| {
        // Grown, never shrunk: each call packs every float it then reads.
        a_packed.resize(a_packed.len().max(kc_max * mc_max), 0.0);
        b_panels.resize(b_panels.len().max(b_len), 0.0);
        for k0 in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - k0);
            for i0 in rows.clone().step_by(mc_max) {
                let mc = mc_max.min(rows.end - i0);
                let panels = a_panels(mc, mr);
                pack_a(isa, a_packed, a, i0, &panels, k0, kc);
                for j0 in cols.clone().step_by(nc_max) {
                    let nc = nc_max.min(cols.end - j0);
                    let b_block: &[f32] = match b {
                        Right::View(v) => {
                            pack_b(isa, b_panels, v, k0, kc, j0, nc);
                            &b_panels[..]
                        }
                        Right::Packed(p) => p.block(k0, kc, j0),
                    };
                    for (p, &(ir, rows)) in panels.iter().enumerate() {
                        let a_panel = a_packed[p * kc * mr..][..kc * mr].as_ptr();
                        for jr in (0..nc).step_by(nr) {
                            let tile = Tile {
                                c: c.0.add((i0 + ir) * ldc + j0 + jr),
                                ldc,
                                cols: nr.min(nc - jr),
                                accumulate: matches!(start, Start::Existing) || k0 > 0,
                                row: match start {
                                    Start::Row(row) if k0 == 0 => row[j0 + jr..].as_ptr(),
                                    _ => std::ptr::null(),
                                },
                            };
                            let b_panel = b_block[jr * kc..][..kc * nr].as_ptr();
                            isa.tile(rows, kc, a_panel, b_panel, tile);
                        }
                    }
                }
            }
        }
    })
}

thread_local! {
    /// Each thread's packing buffers (A, B), kept between products: allocating them per call
    /// cost page faults and zeroing, ≈ 5% of a LUKE-base forward in `perf`.
    static PANELS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &View, b: &View) -> Vec<f32> {
        let at = |v: &View, i: usize, j: usize| v.data[v.offset + i * v.row_stride + j * v.col_stride];
        (0..a.rows * b.cols)
            .map(|x| (0..a.cols).map(|t| at(a, x / b.cols, t) * at(b, t, x % b.cols)).sum())
            .collect()
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 37 + seed) % 101) as f32 - 50.0) / 50.0)
            .collect()
    }

    /// Every tile this CPU runs, every layout, ragged edges in m, n and k (k past one KC block (384 on AVX-512, 768 on AVX2),
    /// n past one NC block), 1 and 2 threads, packed and unpacked B, overwrite, accumulate and
    /// a start row.
    #[test]
    fn matches_naive_on_ragged_shapes_and_layouts() {
        for isa in Isa::all_present() {
            matches_naive_on(isa);
        }
    }

    fn matches_naive_on(isa: Isa) {
        let shapes = [
            (1, 1, 1),
            (13, 7, 31),
            (15, 300, 33),
            (29, 513, 70),
            (150, 40, 97),
            (20, 30, 530),
            (7, 1000, 45),
        ];
        for &(m, k, n) in &shapes {
            let (a_data, b_data) = (values(m * k, 1), values(k * n, 2));
            for a_t in [false, true] {
                for b_t in [false, true] {
                    let a = if a_t {
                        View::row_major(&a_data, k, m).t()
                    } else {
                        View::row_major(&a_data, m, k)
                    };
                    let b = if b_t {
                        View::row_major(&b_data, n, k).t()
                    } else {
                        View::row_major(&b_data, k, n)
                    };
                    let want = naive(&a, &b);
                    let packed = PackedB::for_isa(isa, b);
                    let row = values(n, 3);
                    for (right, threads, start) in [
                        (Right::View(b), 1, Start::Zero),
                        (Right::View(b), 2, Start::Existing),
                        (Right::View(b), 2, Start::Row(&row)),
                        (Right::Packed(&packed), 2, Start::Zero),
                        (Right::Packed(&packed), 1, Start::Existing),
                        (Right::Packed(&packed), 1, Start::Row(&row)),
                    ] {
                        let mut c = vec![0.5f32; m * n];
                        let out = Out {
                            data: &mut c,
                            offset: 0,
                            row_stride: n,
                        };
                        product_on(isa, out, a, right, start, threads);
                        for (idx, (g, w)) in c.iter().zip(&want).enumerate() {
                            let base = match start {
                                Start::Zero => 0.0,
                                Start::Existing => 0.5,
                                Start::Row(row) => row[idx % n],
                            };
                            assert!(
                                (g - base - w).abs() < 1e-4 * (1.0 + w.abs()),
                                "{isa:?} {m}×{k}×{n} a_t {a_t} b_t {b_t} threads {threads}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// With k = 0, C is its start: zeros, what it held, or the row.
    #[test]
    fn empty_inner_dimension_leaves_the_start() {
        if !available() {
            return;
        }
        let (a_data, b_data) = (Vec::new(), Vec::new());
        let (a, b) = (View::row_major(&a_data, 2, 0), View::row_major(&b_data, 0, 3));
        let row = [1.0, 2.0, 3.0];
        for (start, want) in [
            (Start::Zero, [0.0; 3]),
            (Start::Existing, [4.0; 3]),
            (Start::Row(&row), row),
        ] {
            let mut c = vec![4f32; 6];
            let out = Out {
                data: &mut c,
                offset: 0,
                row_stride: 3,
            };
            product(out, a, Right::View(b), start, 1);
            assert_eq!(c, [want, want].concat());
        }
    }

    /// C inside a wider block (offset, row stride) keeps its neighbours untouched.
    #[test]
    fn writes_only_its_block_of_a_strided_output() {
        for isa in Isa::all_present() {
            writes_only_its_block_on(isa);
        }
    }

    fn writes_only_its_block_on(isa: Isa) {
        let (m, k, n) = (20, 9, 35);
        let (a_data, b_data) = (values(m * k, 3), values(k * n, 4));
        let (a, b) = (View::row_major(&a_data, m, k), View::row_major(&b_data, k, n));
        let want = naive(&a, &b);
        let (offset, stride) = (3, n + 5);
        let mut c = vec![7f32; offset + m * stride];
        let out = Out {
            data: &mut c,
            offset,
            row_stride: stride,
        };
        product_on(isa, out, a, Right::View(b), Start::Zero, 2);
        for (idx, &v) in c.iter().enumerate() {
            let inside = idx >= offset && (idx - offset) % stride < n;
            if inside {
                let (i, j) = ((idx - offset) / stride, (idx - offset) % stride);
                assert!((v - want[i * n + j]).abs() < 1e-4);
            } else {
                assert_eq!(v, 7.0, "{isa:?}: index {idx} outside C was written");
            }
        }
    }
}
