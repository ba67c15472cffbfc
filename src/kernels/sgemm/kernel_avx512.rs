//! The AVX-512 register tile: `R` rows × 32 columns of C held in `2R` zmm accumulators while
//! the packed panels of A (`[kc][MR]`) and B (`[kc][32]`) stream through. At R = 14 that is 28
//! accumulators, 2 B vectors and one broadcast: all 32 registers. On panels in L1 it ran at
//! 77–86% of one core's FMA peak in `tsumugi bench gemm` (which prints both) on this project's
//! shared Cascade Lake host; 12 × 32 and 8 × 48 tiles and a loop without unrolling measured
//! lower there.

use super::peak::rate;
use super::{Isa, Tile};
use std::arch::x86_64::*;

const MR: usize = Isa::Avx512.mr();
const NR: usize = Isa::Avx512.nr();

/// k-steps per loop trip (unrolled): amortises the loop's own instructions, which otherwise
/// crowd the 4-wide front end next to 28 FMAs and 16 loads.
const UNROLL: usize = 4;
/// How far ahead of the tile the B panel is prefetched into L1: two loop trips (1 KiB). The
/// panel streams from L2 and the hardware prefetchers alone left the FMAs waiting; with this,
/// KC 384, paired in one process (20 rounds of `bench gemm`'s eight products), the median time
/// ratio was 0.93–0.97. One and four trips measured the same as two; prefetching A as well, no
/// better.
const B_PREFETCH_AHEAD: usize = 2 * UNROLL * NR;

/// `C[R, cols] (+)= A[R, kc] · B[kc, cols]` from packed panels.
///
/// # Safety
/// AVX-512F must be present; `a` must hold `kc·MR` floats, `b` `kc·NR`, C must have `R`
/// rows of `cols` writable floats at stride `ldc`, and a non-null `row` `cols` readable floats.
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize>(kc: usize, a: *const f32, b: *const f32, out: Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (mut a, mut b) = (a, b);
    let step = |a: *const f32, b: *const f32, acc: &mut [[__m512; 2]; R]| {
        let b0 = _mm512_loadu_ps(b);
        let b1 = _mm512_loadu_ps(b.add(16));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*a.add(i));
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
    };
    let mut p = 0;
    let mut trip = 0;
    while p + UNROLL <= kc {
        // One line of this tile's C per trip, so the loads and stores at the end hit L1: C is
        // read once per KC block, from L3 or memory. 1–6% per product (paired, in one process).
        if trip < 2 * R {
            // A prefetch never faults; `wrapping_add` as a ragged tile's line may lie past C.
            _mm_prefetch::<_MM_HINT_T0>(out.c.wrapping_add((trip / 2) * out.ldc + (trip % 2) * 16) as *const i8);
        }
        trip += 1;
        for line in 0..UNROLL * NR / 16 {
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(B_PREFETCH_AHEAD + line * 16) as *const i8);
        }
        for u in 0..UNROLL {
            step(a.add(u * MR), b.add(u * NR), &mut acc);
        }
        a = a.add(UNROLL * MR);
        b = b.add(UNROLL * NR);
        p += UNROLL;
    }
    while p < kc {
        step(a, b, &mut acc);
        a = a.add(MR);
        b = b.add(NR);
        p += 1;
    }
    let mask = |from: usize| -> __mmask16 {
        let n = out.cols.saturating_sub(from).min(16);
        ((1u32 << n) - 1) as __mmask16
    };
    let (m0, m1) = (mask(0), mask(16));
    for (i, row) in acc.iter().enumerate() {
        let c = out.c.add(i * out.ldc);
        let (mut x0, mut x1) = (row[0], row[1]);
        let start = out.start_of(c);
        if !start.is_null() {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, start));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, start.add(16)));
        }
        _mm512_mask_storeu_ps(c, m0, x0);
        _mm512_mask_storeu_ps(c.add(16), m1, x1);
    }
}

/// The tile for `rows` (1..=MR) valid rows: each row count has its own register layout, so the
/// ragged last panel costs what its rows cost, not a full 14.
///
/// # Safety
/// As [`tile`], with `rows` rows of C.
pub(super) unsafe fn tile_rows(rows: usize, kc: usize, a: *const f32, b: *const f32, out: Tile) {
    macro_rules! by_rows {
        ($($r:literal)*) => {
            match rows {
                $($r => tile::<$r>(kc, a, b, out),)*
                _ => unreachable!("tile rows {rows} outside 1..={MR}"),
            }
        };
    }
    by_rows!(1 2 3 4 5 6 7 8 9 10 11 12 13 14)
}

/// GFLOP/s of this thread running independent FMAs on registers alone: the core's peak as this
/// thread sees it (lower when another thread shares the core's FMA units).
///
/// # Safety
/// AVX-512F must be present.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fma_peak(seconds: f64) -> f64 {
    // 24 independent accumulator chains: enough to cover FMA latency on both ports.
    let mut acc = [_mm512_set1_ps(0.0); 24];
    let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let peak = rate(seconds, (2 * 16 * 24 * 256) as f64, || {
        for _ in 0..256 {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, x, y);
            }
        }
    });
    std::hint::black_box(&acc);
    peak
}
