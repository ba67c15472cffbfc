//! Packing of sources stored the other way round (a PyTorch `[out, in]` weight as B, a
//! row-major A) through 8 × 8 in-register transposes: the AVX2 counterpart of
//! [`super::transpose_avx512`], for the 6- and 16-wide panels of the AVX2 tile.

use std::arch::x86_64::*;

/// `rows[i]` holds `x[i][0..8]`; returns `out[j] = x[0..8][j]`.
#[target_feature(enable = "avx2")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // Within 128-bit lanes: t[2p], t[2p + 1] interleave rows 2p and 2p + 1.
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(x, y)
        } else {
            _mm256_unpackhi_ps(x, y)
        }
    });
    // s[4h + c]: columns c (low lane) and c + 4 (high lane) of rows 4h..4h + 4.
    let s: [__m256; 8] = std::array::from_fn(|x| {
        let (h, c) = (x / 4, x % 4);
        let (p, q) = (t[4 * h + c / 2], t[4 * h + 2 + c / 2]);
        if c % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(p, q)
        } else {
            _mm256_shuffle_ps::<0xEE>(p, q)
        }
    });
    std::array::from_fn(|j| {
        let (c, high) = (j % 4, j >= 4);
        if high {
            _mm256_permute2f128_ps::<0x31>(s[c], s[4 + c])
        } else {
            _mm256_permute2f128_ps::<0x20>(s[c], s[4 + c])
        }
    })
}

/// Lanes `0..n` (n ≤ 8) as a mask for `maskload`/`maskstore`.
#[target_feature(enable = "avx2")]
fn lanes(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// Loads up to 8 source rows of `len` (≤ 8) floats each, rows past `count` as zeros.
///
/// # Safety
/// Row `i < count` must have `len` readable floats at `src + i·stride`.
#[target_feature(enable = "avx2")]
unsafe fn load_rows(src: *const f32, stride: usize, count: usize, len: usize) -> [__m256; 8] {
    let mask = lanes(len);
    std::array::from_fn(|i| {
        if i >= count {
            _mm256_setzero_ps()
        } else if len == 8 {
            _mm256_loadu_ps(src.add(i * stride))
        } else {
            _mm256_maskload_ps(src.add(i * stride), mask)
        }
    })
}

/// One panel `[kc][W]` (W ≤ 16) from `cols` (≤ W) source columns of `kc` contiguous floats
/// each, `stride` apart, starting at `src`; columns past `cols` are zeros.
///
/// # Safety
/// AVX2; column `j < cols` must have `kc` readable floats at `src + j·stride`.
#[target_feature(enable = "avx2")]
pub unsafe fn pack_panel<const W: usize>(panel: &mut [f32], src: *const f32, stride: usize, cols: usize, kc: usize) {
    assert!(W <= 16 && panel.len() >= kc * W);
    for half in 0..W.div_ceil(8) {
        let count = cols.saturating_sub(half * 8).min(8);
        // Lanes of this half that belong to the panel (all 8, or W's ragged last half).
        let width = (W - half * 8).min(8);
        let keep = lanes(width);
        for k0 in (0..kc).step_by(8) {
            let len = (kc - k0).min(8);
            let columns = transpose8(load_rows(src.add(half * 8 * stride + k0), stride, count, len));
            for (t, v) in columns.iter().take(len).enumerate() {
                let k = k0 + t;
                let dst = panel.as_mut_ptr().add(k * W + half * 8);
                // A narrow half (the A panel's 6 of 8 lanes) is stored whole except on the
                // panel's last row: the lanes past it land on the next row, stored after this
                // one. Masked stores are slow on AMD: with one per row, packing a row-major A
                // (the decoder's 700 × 10000 gradient) took 6.5% of its product in `perf`.
                if width == 8 || k + 1 < kc {
                    _mm256_storeu_ps(dst, *v);
                } else {
                    _mm256_maskstore_ps(dst, keep, *v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Panels of every width the AVX2 tile uses equal the scalar definition, on ragged column
    /// counts and depths.
    #[test]
    fn panels_equal_the_scalar_layout() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        fn check<const W: usize>() {
            for &(cols, kc) in &[(1, 1), (3, 7), (W, 8), (W, 19), (W - 1, 33)] {
                let stride = kc + 3;
                let src: Vec<f32> = (0..cols * stride).map(|i| i as f32 * 0.5 - 7.0).collect();
                let mut panel = vec![f32::NAN; kc * W];
                // SAFETY: AVX2 checked above; every column has `kc` floats at its stride.
                unsafe { super::pack_panel::<W>(&mut panel, src.as_ptr(), stride, cols, kc) };
                for kk in 0..kc {
                    for j in 0..W {
                        let want = if j < cols { src[j * stride + kk] } else { 0.0 };
                        assert_eq!(panel[kk * W + j], want, "W {W} cols {cols} kc {kc} at ({kk}, {j})");
                    }
                }
            }
        }
        check::<6>();
        check::<16>();
    }
}
