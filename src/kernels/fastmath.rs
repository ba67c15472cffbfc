//! `exp`, `sigmoid` and `tanh` in plain f32 arithmetic, so loops over slices vectorise.
//!
//! libm's `expf` is a call per element; the language model's softmax takes one per vocabulary
//! entry per token (10k × 400 per step for zaremba-small), and there it was the largest cost after
//! the GEMMs. Range reduction to x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 Taylor polynomial for
//! e^r (truncation ≤ 1.3e-7 relative) and 2^n built from its bits: max relative error ≈ 2e-7.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in f32 and the rest, so n·ln2 is subtracted without rounding loss.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5 · 2^23: adding it rounds an f32 of magnitude < 2^22 to an integer held in the low bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// e^x; inputs are clamped to [−87, 88] so the result is finite and normal (e^−87 ≈ 1.6e−38).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * scale
}

/// 1 / (1 + e^−x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x = 1 − 2 / (e^{2x} + 1); absolute error ≈ 2e-7 (relative error grows only near 0,
/// where |tanh x| is itself tiny).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// erf x by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, ≤ 6e-7 after f32 rounding),
/// for exact GELU in LUKE:
/// libm's `erff` is a call per element of every `[tokens, 3072]` intermediate activation.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// Defines `fn name(args) = body;`: a function that runs `body` (an `#[inline(always)]` function
/// with the same arguments) compiled for the widest vectors the CPU has: AVX-512, 16 lanes; else
/// AVX2, 8 lanes; else the crate's SSE2 baseline, 4 lanes. Every build does the same operations
/// in the same order (Rust neither reassociates nor fuses float operations, whatever features
/// are enabled), so they return the same bits; `body` stays callable as the baseline, for tests.
/// What `body` calls must be `#[inline(always)]` too, to be compiled with it.
macro_rules! widest_vectors {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            {
                if is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use widest_vectors;

widest_vectors! {
    /// Replaces every `x` by e^(x − shift) and returns their sum (eight partial sums, so both
    /// loops vectorise).
    pub fn exp_shifted_sum(xs: &mut [f32], shift: f32) -> f32 = exp_shifted_sum_body;
}

#[inline(always)]
fn exp_shifted_sum_body(xs: &mut [f32], shift: f32) -> f32 {
    for x in xs.iter_mut() {
        *x = exp(*x - shift);
    }
    sum_body(xs)
}

widest_vectors! {
    /// Sum with eight independent accumulators (a strict left-to-right sum cannot be vectorised).
    pub fn sum(xs: &[f32]) -> f32 = sum_body;
}

#[inline(always)]
fn sum_body(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    acc.iter().sum::<f32>() + tail
}

widest_vectors! {
    /// Largest element (NEG_INFINITY for an empty slice), eight lanes at a time.
    pub fn max(xs: &[f32]) -> f32 = max_body;
}

#[inline(always)]
fn max_body(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.max(*v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&acc)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_across_the_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64 - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        let mut x = -30.0f32;
        while x <= 30.0 {
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 3e-7, "tanh({x})");
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - s).abs() < 3e-7, "sigmoid({x})");
            x += 0.01;
        }
    }

    #[test]
    fn erf_matches_libm() {
        let mut x = -6.0f32;
        while x <= 6.0 {
            assert!(
                (erf(x) - libm::erff(x)).abs() < 6e-7,
                "erf({x}): {}",
                erf(x) - libm::erff(x)
            );
            x += 0.003;
        }
    }

    #[test]
    fn sum_and_max_cover_the_tail() {
        let xs: Vec<f32> = (0..19).map(|i| i as f32 - 3.0).collect();
        assert_eq!(sum(&xs), xs.iter().sum::<f32>());
        assert_eq!(max(&xs), 15.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        let mut row = vec![1.0, 2.0, 3.0];
        let total = exp_shifted_sum(&mut row, 3.0);
        let want = (-2f32).exp() + (-1f32).exp() + 1.0;
        assert!((total - want).abs() < 1e-6);
    }

    /// The dispatched builds (AVX-512 or AVX2 where the CPU has them) equal the baseline bit for bit, on
    /// lengths that leave ragged tails of lanes.
    #[test]
    fn dispatched_loops_equal_the_baseline_bit_for_bit() {
        for len in [0, 1, 7, 16, 33, 1000] {
            let xs: Vec<f32> = (0..len).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 37.0).collect();
            assert_eq!(sum(&xs).to_bits(), sum_body(&xs).to_bits(), "sum, {len}");
            assert_eq!(max(&xs).to_bits(), max_body(&xs).to_bits(), "max, {len}");
            let (mut a, mut b) = (xs.clone(), xs.clone());
            let (sa, sb) = (exp_shifted_sum(&mut a, 3.0), exp_shifted_sum_body(&mut b, 3.0));
            assert_eq!(sa.to_bits(), sb.to_bits(), "exp_shifted_sum, {len}");
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}
