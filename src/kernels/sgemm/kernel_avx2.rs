//! The AVX2 register tile, for x86 CPUs without AVX-512 (AMD before Zen 4, most desktop Intel):
//! `R` rows × 16 columns of C held in `2R` ymm accumulators while the packed panels of A
//! (`[kc][6]`) and B (`[kc][16]`) stream through. At R = 6 that is 12 accumulators, 2 B vectors
//! and one broadcast: 15 of the 16 registers. The loop is the AVX-512 tile's ([`super::kernel_avx512`])
//! at half the width.

use super::peak::rate;
use super::{Isa, Tile};
use std::arch::x86_64::*;

const MR: usize = Isa::Avx2.mr();
const NR: usize = Isa::Avx2.nr();
/// k-steps per loop trip (unrolled), as in the AVX-512 tile.
const UNROLL: usize = 4;
/// How far ahead the B panel is prefetched into L1: two loop trips (512 B).
const B_PREFETCH_AHEAD: usize = 2 * UNROLL * NR;

/// Lanes `0..n` of a ymm store or load (n ≤ 8).
#[target_feature(enable = "avx2")]
fn lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// `C[R, cols] (+)= A[R, kc] · B[kc, cols]` from packed panels.
///
/// # Safety
/// AVX2 and FMA must be present; `a` must hold `kc·MR` floats, `b` `kc·NR`, C must have `R`
/// rows of `cols` writable floats at stride `ldc`, and a non-null `row` `cols` readable floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize>(kc: usize, a: *const f32, b: *const f32, out: Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let (mut a, mut b) = (a, b);
    let step = |a: *const f32, b: *const f32, acc: &mut [[__m256; 2]; R]| {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm256_broadcast_ss(&*a.add(i));
            row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
        }
    };
    let mut p = 0;
    let mut trip = 0;
    while p + UNROLL <= kc {
        // C's lines one per trip, so the final loads and stores hit L1 (as the AVX-512 tile): a
        // row's first and last float, the two lines an unaligned 64-byte row can touch.
        if trip < 2 * R {
            // A prefetch never faults; `wrapping_add` as a ragged tile's line may lie past C.
            _mm_prefetch::<_MM_HINT_T0>(out.c.wrapping_add((trip / 2) * out.ldc + (trip % 2) * (NR - 1)) as *const i8);
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
    if out.cols == NR {
        for (i, row) in acc.iter().enumerate() {
            let c = out.c.add(i * out.ldc);
            let (mut x0, mut x1) = (row[0], row[1]);
            let start = out.start_of(c);
            if !start.is_null() {
                x0 = _mm256_add_ps(x0, _mm256_loadu_ps(start));
                x1 = _mm256_add_ps(x1, _mm256_loadu_ps(start.add(8)));
            }
            _mm256_storeu_ps(c, x0);
            _mm256_storeu_ps(c.add(8), x1);
        }
        return;
    }
    // A ragged last panel: nothing past `cols` is touched. Masked loads and stores are slow on
    // AMD, so only a partial vector is masked: a full first half (cols ≥ 8, e.g. the 10-column
    // last panel of H = 650) moves as usual, an empty second half not at all.
    let (m0, m1) = (lanes(out.cols.min(8)), lanes(out.cols.saturating_sub(8)));
    let (first_full, second_used) = (out.cols >= 8, out.cols > 8);
    for (i, row) in acc.iter().enumerate() {
        let c = out.c.add(i * out.ldc);
        let (mut x0, mut x1) = (row[0], row[1]);
        let start = out.start_of(c);
        if !start.is_null() {
            let first = if first_full {
                _mm256_loadu_ps(start)
            } else {
                _mm256_maskload_ps(start, m0)
            };
            x0 = _mm256_add_ps(x0, first);
            if second_used {
                x1 = _mm256_add_ps(x1, _mm256_maskload_ps(start.add(8), m1));
            }
        }
        if first_full {
            _mm256_storeu_ps(c, x0);
        } else {
            _mm256_maskstore_ps(c, m0, x0);
        }
        if second_used {
            _mm256_maskstore_ps(c.add(8), m1, x1);
        }
    }
}

/// The tile for `rows` (1..=MR) valid rows.
///
/// # Safety
/// As [`tile`], with `rows` rows of C.
pub(super) unsafe fn tile_rows(rows: usize, kc: usize, a: *const f32, b: *const f32, out: Tile) {
    match rows {
        1 => tile::<1>(kc, a, b, out),
        2 => tile::<2>(kc, a, b, out),
        3 => tile::<3>(kc, a, b, out),
        4 => tile::<4>(kc, a, b, out),
        5 => tile::<5>(kc, a, b, out),
        6 => tile::<6>(kc, a, b, out),
        _ => unreachable!("tile rows {rows} outside 1..={MR}"),
    }
}

/// GFLOP/s of this thread running independent 8-lane FMAs on registers alone.
///
/// # Safety
/// AVX2 and FMA must be present.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn fma_peak(seconds: f64) -> f64 {
    // 12 independent accumulator chains: enough to cover FMA latency on both ports.
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let peak = rate(seconds, (2 * 8 * 12 * 256) as f64, || {
        for _ in 0..256 {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, x, y);
            }
        }
    });
    std::hint::black_box(&acc);
    peak
}
