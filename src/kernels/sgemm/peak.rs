//! How fast this CPU can multiply at most: one thread's register tile on panels in L1, and
//! independent FMAs on one or all threads. `bench gemm` and `bench lstm` print achieved rates
//! against these peaks.

use super::{Isa, Tile};

/// GFLOP/s of `call` (doing `flops_per_call`) repeated on this thread for `seconds`. Inlined,
/// so that `call` is compiled inside its caller's `target_feature` (through a `dyn` call its
/// intrinsics were not inlined: a third of the peak).
#[inline(always)]
pub(super) fn rate(seconds: f64, flops_per_call: f64, mut call: impl FnMut()) -> f64 {
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
