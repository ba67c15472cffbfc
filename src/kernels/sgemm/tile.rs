//! The register tile: which vector instruction set runs it, which fixes its shape and the
//! block sizes around it, and where one tile of C is stored.

#[cfg(target_arch = "x86_64")]
use super::{kernel_avx2, kernel_avx512};

/// Where and how one register tile of C is written.
#[derive(Clone, Copy)]
pub(super) struct Tile {
    pub(super) c: *mut f32,
    pub(super) ldc: usize,
    /// Valid columns (1..=NR); the rest of the B panel is zero padding and is not stored.
    pub(super) cols: usize,
    /// Add to what C holds instead of overwriting it.
    pub(super) accumulate: bool,
    /// When not accumulating: a row added to every row of the tile (null: none).
    pub(super) row: *const f32,
}

impl Tile {
    /// What the tile's row at `c` (a row of this tile's C) is added to: that row itself when
    /// accumulating, else the start row, or null for nothing.
    pub(super) fn start_of(&self, c: *mut f32) -> *const f32 {
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

    pub(super) fn present(self) -> bool {
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
    pub(super) fn kc_for(self, k: usize) -> usize {
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
    pub(super) const fn nc(self) -> usize {
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
    pub(super) unsafe fn tile(self, rows: usize, kc: usize, a: *const f32, b: *const f32, out: Tile) {
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
    pub(super) unsafe fn fma_peak(self, seconds: f64) -> f64 {
        #[cfg(target_arch = "x86_64")]
        match self {
            Isa::Avx512 => kernel_avx512::fma_peak(seconds),
            Isa::Avx2 => kernel_avx2::fma_peak(seconds),
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("sgemm runs only on x86-64 ({seconds} s)")
    }
}
