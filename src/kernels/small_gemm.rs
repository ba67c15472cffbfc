//! Matrix products with few rows (m ≤ 32) whose right operand is used once: a task head over a
//! small batch, an LSTM step during generation. General GEMM packs the whole right operand on
//! every call, which at m = 20 costs as much as the arithmetic (a right operand shared by many
//! products is packed once instead: `matmul::FixedB`). These kernels read the weight in place, register-tiled with
//! AVX-512 intrinsics, and split over threads by output columns; without AVX-512, `matmul`
//! keeps using gemm.

use rayon::prelude::*;

const LANES: usize = 16;
/// Output columns per thread task.
const COLUMN_BLOCK: usize = 256;

/// `c[m, n] (+)= a[m, k] · b[n, k]ᵀ`: every output is a dot product of two contiguous rows.
pub fn nt(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, accumulate: bool) {
    if n <= COLUMN_BLOCK {
        let mut out = vec![0f32; m * n];
        dispatch_nt(&mut out, a, b, m, k, n);
        return scatter(c, &[(0, out)], m, n, accumulate);
    }
    let blocks: Vec<(usize, Vec<f32>)> = (0..n)
        .step_by(COLUMN_BLOCK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|j0| {
            let width = COLUMN_BLOCK.min(n - j0);
            let mut out = vec![0f32; m * width];
            dispatch_nt(&mut out, a, &b[j0 * k..(j0 + width) * k], m, k, width);
            (j0, out)
        })
        .collect();
    scatter(c, &blocks, m, n, accumulate);
}

/// `c[m, n] (+)= a[m, k] · b[k, n]`: rows of `b` are added into rows of `c` (axpy form).
pub fn nn(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, accumulate: bool) {
    if n <= COLUMN_BLOCK {
        let mut out = vec![0f32; m * n];
        dispatch_nn(&mut out, a, b, m, k, n, 0, n);
        return scatter(c, &[(0, out)], m, n, accumulate);
    }
    let blocks: Vec<(usize, Vec<f32>)> = (0..n)
        .step_by(COLUMN_BLOCK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|i0| {
            let width = COLUMN_BLOCK.min(n - i0);
            let mut out = vec![0f32; m * width];
            dispatch_nn(&mut out, a, b, m, k, n, i0, width);
            (i0, out)
        })
        .collect();
    scatter(c, &blocks, m, n, accumulate);
}

/// Copies (or adds) each column block `[m, width]` into `c[m, n]`.
fn scatter(c: &mut [f32], blocks: &[(usize, Vec<f32>)], m: usize, n: usize, accumulate: bool) {
    for (j0, out) in blocks {
        let width = out.len() / m.max(1);
        for r in 0..m {
            let dst = &mut c[r * n + j0..r * n + j0 + width];
            let src = &out[r * width..(r + 1) * width];
            if accumulate {
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            } else {
                dst.copy_from_slice(src);
            }
        }
    }
}

/// Whether these kernels run on this CPU (AVX-512F); elsewhere `matmul` keeps using gemm.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn dispatch_nt(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, width: usize) {
    assert!(available(), "small_gemm needs AVX-512F");
    assert!(a.len() >= m * k && b.len() >= width * k && out.len() >= m * width);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (asserted) and the slices cover every index the kernel reads.
    unsafe {
        avx512::nt(out, a, b, m, k, width)
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch_nn(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, i0: usize, width: usize) {
    assert!(available(), "small_gemm needs AVX-512F");
    assert!(a.len() >= m * k && b.len() >= k * n && i0 + width <= n && out.len() >= m * width);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as above.
    unsafe {
        avx512::nn(out, a, b, m, k, n, i0, width)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Mask of the first `rem` lanes.
    fn tail_mask(rem: usize) -> __mmask16 {
        ((1u32 << rem) - 1) as __mmask16
    }

    /// out[m, width] = a[m, k] · b[width, k]ᵀ in 4 × 4 tiles of 16-lane accumulators; the
    /// ragged end of k is read with masked loads.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn nt(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, width: usize) {
        let full = k / LANES * LANES;
        let mask = tail_mask(k - full);
        let mut r0 = 0;
        while r0 < m {
            let rows = (m - r0).min(4);
            let mut s0 = 0;
            while s0 < width {
                let cols = (width - s0).min(4);
                let mut acc = [[_mm512_setzero_ps(); 4]; 4];
                let ap: [*const f32; 4] = std::array::from_fn(|r| a.as_ptr().add((r0 + r.min(rows - 1)) * k));
                let bp: [*const f32; 4] = std::array::from_fn(|s| b.as_ptr().add((s0 + s.min(cols - 1)) * k));
                let mut kk = 0;
                while kk < full {
                    let av: [__m512; 4] = std::array::from_fn(|r| _mm512_loadu_ps(ap[r].add(kk)));
                    let bv: [__m512; 4] = std::array::from_fn(|s| _mm512_loadu_ps(bp[s].add(kk)));
                    for r in 0..4 {
                        for s in 0..4 {
                            acc[r][s] = _mm512_fmadd_ps(av[r], bv[s], acc[r][s]);
                        }
                    }
                    kk += LANES;
                }
                if mask != 0 {
                    let av: [__m512; 4] = std::array::from_fn(|r| _mm512_maskz_loadu_ps(mask, ap[r].add(full)));
                    let bv: [__m512; 4] = std::array::from_fn(|s| _mm512_maskz_loadu_ps(mask, bp[s].add(full)));
                    for r in 0..4 {
                        for s in 0..4 {
                            acc[r][s] = _mm512_fmadd_ps(av[r], bv[s], acc[r][s]);
                        }
                    }
                }
                for r in 0..rows {
                    for s in 0..cols {
                        out[(r0 + r) * width + s0 + s] = _mm512_reduce_add_ps(acc[r][s]);
                    }
                }
                s0 += cols;
            }
            r0 += rows;
        }
    }

    /// out[m, width] += a[m, k] · b[k, i0..i0+width]. Eight rows of b at a time are swept once
    /// across the column block, each 16-lane strip added, scaled, into four output rows at a
    /// time; the output block stays in cache while b streams through once.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn nn(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, i0: usize, width: usize) {
        const Q: usize = 8;
        let mut j = 0;
        while j < k {
            let q = (k - j).min(Q);
            let bp: [*const f32; Q] = std::array::from_fn(|t| b.as_ptr().add((j + t.min(q - 1)) * n + i0));
            let mut r0 = 0;
            while r0 < m {
                let rows = (m - r0).min(4);
                // coefficients beyond q or rows are zero, so padded lanes add nothing
                let coef: [[f32; Q]; 4] = std::array::from_fn(|r| {
                    std::array::from_fn(|t| {
                        if r < rows && t < q {
                            *a.get_unchecked((r0 + r) * k + j + t)
                        } else {
                            0.0
                        }
                    })
                });
                let op: [*mut f32; 4] = std::array::from_fn(|r| out.as_mut_ptr().add((r0 + r.min(rows - 1)) * width));
                let mut i = 0;
                while i < width {
                    let mask = tail_mask((width - i).min(LANES));
                    let mut acc: [__m512; 4] = std::array::from_fn(|r| _mm512_maskz_loadu_ps(mask, op[r].add(i)));
                    for t in 0..Q {
                        let w = _mm512_maskz_loadu_ps(mask, bp[t].add(i));
                        for r in 0..4 {
                            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(coef[r][t]), w, acc[r]);
                        }
                    }
                    // rows past `rows` alias the last real row: store real rows only, last first
                    for r in (0..rows).rev() {
                        _mm512_mask_storeu_ps(op[r].add(i), mask, acc[r]);
                    }
                    i += LANES;
                }
                r0 += rows;
            }
            j += q;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_nt(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|x| (0..k).map(|t| a[x / n * k + t] * b[x % n * k + t]).sum())
            .collect()
    }

    #[test]
    fn nt_and_nn_match_naive_on_ragged_shapes() {
        if !available() {
            return; // matmul does not route here on this CPU
        }
        for &(m, k, n) in &[(1, 3, 4), (5, 37, 300), (20, 650, 530), (7, 16, 1)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let b: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
            let want = naive_nt(&a, &b, m, k, n);
            let mut c = vec![1f32; m * n];
            nt(&mut c, &a, &b, m, k, n, true);
            for (g, w) in c.iter().zip(&want) {
                assert!(
                    (g - 1.0 - w).abs() < 1e-3 * (1.0 + w.abs()),
                    "nt {m}x{k}x{n}: {g} vs {w}"
                );
            }
            // the same product as nn: b viewed as [k, n] is bᵀ of the [n, k] matrix above
            let mut bt = vec![0f32; k * n];
            for j in 0..n {
                for t in 0..k {
                    bt[t * n + j] = b[j * k + t];
                }
            }
            let mut c = vec![9f32; m * n];
            nn(&mut c, &a, &bt, m, k, n, false);
            for (g, w) in c.iter().zip(&want) {
                assert!((g - w).abs() < 1e-3 * (1.0 + w.abs()), "nn {m}x{k}x{n}: {g} vs {w}");
            }
        }
    }
}
