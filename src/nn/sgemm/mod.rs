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
#[cfg(target_arch = "x86_64")]
mod transpose_avx2;
#[cfg(target_arch = "x86_64")]
mod transpose_avx512;

use super::view::View;
use pack::{a_panels, pack_a, pack_b};
use rayon::prelude::*;

/// Where and how one register tile of C is written.
#[derive(Clone, Copy)]
struct Tile {
    c: *mut f32,
    ldc: usize,
    /// Valid columns (1..=NR); the rest of the B panel is zero padding and is not stored.
    cols: usize,
    /// Add to what C holds instead of overwriting it.
    accumulate: bool,
    /// When not accumulating: a row added to every row of the tile (null: none).
    row: *const f32,
}

impl Tile {
    /// What the tile's row at `c` (a row of this tile's C) is added to: that row itself when
    /// accumulating, else the start row, or null for nothing.
    fn start_of(&self, c: *mut f32) -> *const f32 {
        if self.accumulate {
            c
        } else {
            self.row
        }
    }
}

/// The vector instruction set a product runs on: it fixes the register tile's shape and the
/// block sizes, so panels packed for one cannot be read by the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 14 × 32 tile, 28 of 32 zmm registers as accumulators.
    Avx512,
    /// AVX2 with FMA: 6 × 16 tile, 12 of 16 ymm registers as accumulators.
    Avx2,
}

impl Isa {
    /// Widest first.
    const ALL: [Isa; 2] = [Isa::Avx512, Isa::Avx2];

    /// The widest this CPU runs, or `None` (then `matmul` uses the `gemm` crate). Asked on every
    /// product, so it allocates nothing (feature detection itself is a cached load).
    pub fn detected() -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.present())
    }

    /// Every one this CPU runs, widest first (tests run each).
    pub fn all_present() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.present()).collect()
    }

    fn present(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        match self {
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Rows of the register tile.
    pub const fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 14,
            Isa::Avx2 => 6,
        }
    }

    /// Columns of the register tile (two vectors).
    pub const fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2 => 16,
        }
    }

    /// Depth of the packed blocks for an inner dimension `k` (every block but the last this
    /// deep). AVX-512: 384; a 32-column B panel is then 48 KiB, a 14-row A panel 21 KiB; paired
    /// in one process against 256 (12 rounds of `bench gemm`'s products, B prefetched), 384 took
    /// 0.95–1.01 of 256's time, 128 1.02–1.12, 512 and 768 the same as 384.
    ///
    /// AVX2: `k` cut into the fewest blocks of at most 768, evenly, so the LSTM's k of 650 and
    /// 700 are one block and C is stored once instead of read back for a second. On the Zen 3
    /// host, with 128-column B blocks, against 384 with 256: a `bench lstm --no-peer` step took
    /// 0.98–1.00 of the time (5 alternations of two builds), and `bench gemm --no-peer` (two
    /// alternations) put LUKE's four products at 164–185 GFLOP/s against 156–179, the LSTM's
    /// within the noise.
    fn kc_for(self, k: usize) -> usize {
        match self {
            Isa::Avx512 => 384,
            Isa::Avx2 => {
                const KC_MAX: usize = 768;
                k.div_ceil(k.div_ceil(KC_MAX).max(1)).max(1)
            }
        }
    }

    /// Columns of a packed B block: it stays in L2 while every A panel of the block passes over
    /// it. AVX-512 (1 MiB L2 per core on the Xeons measured): 768 KiB at KC 384; AVX2 (512 KiB
    /// L2 per core on Zen 2/3): 384 KiB at KC 768.
    const fn nc(self) -> usize {
        match self {
            Isa::Avx512 => 512,
            Isa::Avx2 => 128,
        }
    }

    /// The tile for `rows` (1..=MR) valid rows.
    ///
    /// # Safety
    /// This CPU must run `self`; `a` must hold `kc·MR` floats, `b` `kc·NR`, C must have `rows`
    /// rows of `out.cols` writable floats at stride `out.ldc`.
    unsafe fn tile(self, rows: usize, kc: usize, a: *const f32, b: *const f32, out: Tile) {
        #[cfg(target_arch = "x86_64")]
        match self {
            Isa::Avx512 => kernel_avx512::tile_rows(rows, kc, a, b, out),
            Isa::Avx2 => kernel_avx2::tile_rows(rows, kc, a, b, out),
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("sgemm runs only on x86-64 ({rows} × {kc}, {a:?}, {b:?}, {:?})", out.c)
    }

    /// GFLOP/s of one thread running independent FMAs for `seconds`.
    ///
    /// # Safety
    /// This CPU must run `self`.
    unsafe fn fma_peak(self, seconds: f64) -> f64 {
        #[cfg(target_arch = "x86_64")]
        match self {
            Isa::Avx512 => kernel_avx512::fma_peak(seconds),
            Isa::Avx2 => kernel_avx2::fma_peak(seconds),
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("sgemm runs only on x86-64 ({seconds} s)")
    }
}

/// Most rows of a packed A block (1.5 MiB at KC): it is read from L3 one MR-row panel at a
/// time, and that panel stays in L1 while it is broadcast.
const MC_MAX: usize = 1024;

/// Whether this CPU runs these kernels (AVX-512F, or AVX2 with FMA).
pub fn available() -> bool {
    Isa::detected().is_some()
}

/// GFLOP/s of `call` (doing `flops_per_call`) repeated on this thread for `seconds`. Inlined,
/// so that `call` is compiled inside its caller's `target_feature` (through a `dyn` call its
/// intrinsics were not inlined: a third of the peak).
#[inline(always)]
fn rate(seconds: f64, flops_per_call: f64, mut call: impl FnMut()) -> f64 {
    let began = std::time::Instant::now();
    let mut calls = 0u64;
    while began.elapsed().as_secs_f64() < seconds {
        for _ in 0..64 {
            call();
        }
        calls += 64;
    }
    flops_per_call * calls as f64 / began.elapsed().as_secs_f64() / 1e9
}

/// `(isa, tile, peak)`: GFLOP/s on one thread, each timed for `seconds`, of the widest register
/// tile on panels already in L1, and of independent FMAs alone. `None` without AVX2 or AVX-512F.
pub fn tile_and_peak_rates(seconds: f64) -> Option<(Isa, f64, f64)> {
    let isa = Isa::detected()?;
    // SAFETY: the CPU runs `isa` (detected).
    Some((isa, unsafe { tile_rate(isa, seconds) }, unsafe {
        isa.fma_peak(seconds)
    }))
}

/// GFLOP/s of this thread running `isa`'s full tile over L1-resident panels (depth 256).
///
/// # Safety
/// The CPU must run `isa`.
unsafe fn tile_rate(isa: Isa, seconds: f64) -> f64 {
    const KC: usize = 256;
    let (mr, nr) = (isa.mr(), isa.nr());
    let a = vec![0.5f32; KC * mr];
    let b = vec![0.25f32; KC * nr];
    let mut c = vec![0f32; mr * nr];
    let out = Tile {
        c: c.as_mut_ptr(),
        ldc: nr,
        cols: nr,
        accumulate: true,
        row: std::ptr::null(),
    };
    let tile_rate = rate(seconds, (2 * mr * nr * KC) as f64, || {
        isa.tile(mr, KC, a.as_ptr(), b.as_ptr(), out)
    });
    std::hint::black_box(&c);
    tile_rate
}

/// GFLOP/s of independent FMAs on every thread of the rayon pool at once, summed: what all
/// threads together can compute at most. It is less than threads × one thread's peak where
/// threads share a core's FMA units (hyperthreads, or vCPUs the host maps onto one core).
/// `None` without AVX2 or AVX-512F.
pub fn all_threads_fma_peak(seconds: f64) -> Option<f64> {
    let isa = Isa::detected()?;
    // SAFETY: the CPU runs `isa` (detected).
    Some(rayon::broadcast(|_| unsafe { isa.fma_peak(seconds) }).iter().sum())
}

/// A right operand `[k, n]` packed once into the panel layout, for a weight that many products
/// share (a transformer's projections at inference).
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
    /// The tile whose panel layout `data` has.
    isa: Isa,
}

impl PackedB {
    /// Packs `b` (`[k, n]`, any strides) for the widest tile this CPU runs.
    ///
    /// Panics without AVX2 or AVX-512F.
    pub fn new(b: View) -> Self {
        Self::for_isa(Isa::detected().expect("sgemm needs AVX2 or AVX-512F"), b)
    }

    /// Packs `b` for `isa`'s tile: for each KC-deep block, all its NR-column panels.
    pub fn for_isa(isa: Isa, b: View) -> Self {
        let (k, n) = (b.rows, b.cols);
        assert!(b.extent() <= b.data.len(), "PackedB: view out of bounds");
        assert!(isa.present(), "PackedB: this CPU does not run {isa:?}");
        let nr = isa.nr();
        let width = n.div_ceil(nr) * nr;
        // every float is written below, padding included
        let mut data = crate::nn::recycle::overwritable(k * width);
        // Each block's panels in groups of 8 on all threads: an LSTM packs its `W_hh` (650 × 2600)
        // twice per layer and step; best of 30 on 2 cores (AVX2), 523 → 361 µs transposed,
        // 439 → 380 µs as stored.
        const PANELS_PER_TASK: usize = 8;
        let kc_max = isa.kc_for(k);
        for k0 in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - k0);
            data[k0 * width..(k0 + kc) * width]
                .par_chunks_mut(PANELS_PER_TASK * kc * nr)
                .enumerate()
                .for_each(|(task, panels)| {
                    let j0 = task * PANELS_PER_TASK * nr;
                    pack_b(isa, panels, &b, k0, kc, j0, (n - j0).min(PANELS_PER_TASK * nr));
                });
        }
        Self { data, k, n, isa }
    }

    /// The panels of block `k0` (depth `kc`) from column `j0` (a multiple of NR) on.
    fn block(&self, k0: usize, kc: usize, j0: usize) -> &[f32] {
        let width = self.n.div_ceil(self.isa.nr()) * self.isa.nr();
        &self.data[k0 * width + j0 * kc..(k0 + kc) * width]
    }
}

impl Drop for PackedB {
    /// An LSTM packs `W_hh` anew for every forward and backward (6.8 MB at H 650): the buffer
    /// serves the next packing ([`crate::nn::recycle`]).
    fn drop(&mut self) {
        crate::nn::recycle::recycle(std::mem::take(&mut self.data));
    }
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
