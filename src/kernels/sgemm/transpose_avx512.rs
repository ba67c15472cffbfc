//! Packing of sources stored the other way round through 16 × 16 in-register transposes. A
//! PyTorch weight used as `xWᵀ` is B stored `[n, k]`, and a row-major A is `[m, k]`; both panels
//! want k outermost, so a scalar copy writes at a 32- or 14-float stride for every element. Transposing 16 × 16
//! blocks in registers (64 shuffles per 256 floats) replaced that copy, which had been 26% of a
//! LUKE-base forward's samples in `perf`.

use std::arch::x86_64::*;

/// `rows[i]` holds `x[i][0..16]`; returns `out[j] = x[0..16][j]`.
#[target_feature(enable = "avx512f")]
fn transpose16(rows: [__m512; 16]) -> [__m512; 16] {
    // Within 128-bit lanes: pairs of rows interleaved, then groups of four rows per column.
    let a: [__m512; 16] = std::array::from_fn(|i| {
        let (x, y) = (rows[i & !1], rows[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(x, y)
        } else {
            _mm512_unpackhi_ps(x, y)
        }
    });
    // b[4i + c], lane L: column 4L + c of rows 4i..4i + 4.
    let b: [__m512; 16] = std::array::from_fn(|x| {
        let (i, c) = (x / 4, x % 4);
        let (p, q) = (a[4 * i + c / 2], a[4 * i + 2 + c / 2]);
        if c % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(p, q)
        } else {
            _mm512_shuffle_ps::<0xEE>(p, q)
        }
    });
    // Gather lane L of b[c], b[4 + c], b[8 + c], b[12 + c] into column 4L + c.
    let mut out = [_mm512_setzero_ps(); 16];
    for c in 0..4 {
        let e0 = _mm512_shuffle_f32x4::<0x88>(b[c], b[4 + c]);
        let e1 = _mm512_shuffle_f32x4::<0xDD>(b[c], b[4 + c]);
        let f0 = _mm512_shuffle_f32x4::<0x88>(b[8 + c], b[12 + c]);
        let f1 = _mm512_shuffle_f32x4::<0xDD>(b[8 + c], b[12 + c]);
        out[c] = _mm512_shuffle_f32x4::<0x88>(e0, f0);
        out[8 + c] = _mm512_shuffle_f32x4::<0xDD>(e0, f0);
        out[4 + c] = _mm512_shuffle_f32x4::<0x88>(e1, f1);
        out[12 + c] = _mm512_shuffle_f32x4::<0xDD>(e1, f1);
    }
    out
}

/// Loads up to 16 source rows of `len` (≤ 16) floats each, rows past `count` as zeros.
///
/// # Safety
/// Row `i < count` must have `len` readable floats at `src + i·stride`.
#[target_feature(enable = "avx512f")]
unsafe fn load_rows(src: *const f32, stride: usize, count: usize, len: usize) -> [__m512; 16] {
    let mask = ((1u32 << len) - 1) as __mmask16;
    std::array::from_fn(|i| {
        if i < count {
            _mm512_maskz_loadu_ps(mask, src.add(i * stride))
        } else {
            _mm512_setzero_ps()
        }
    })
}

/// One panel `[kc][W]` (W ≤ 32) from `cols` (≤ W) source columns of `kc` contiguous floats
/// each, `stride` apart, starting at `src`; columns past `cols` are zeros.
///
/// # Safety
/// AVX-512F; column `j < cols` must have `kc` readable floats at `src + j·stride`.
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_panel<const W: usize>(panel: &mut [f32], src: *const f32, stride: usize, cols: usize, kc: usize) {
    assert!(W <= 32 && panel.len() >= kc * W);
    for half in 0..W.div_ceil(16) {
        let count = cols.saturating_sub(half * 16).min(16);
        // Lanes of this half that belong to the panel (all 16, or W's ragged last half).
        let keep = ((1u32 << (W - half * 16).min(16)) - 1) as __mmask16;
        for k0 in (0..kc).step_by(16) {
            let len = (kc - k0).min(16);
            let columns = transpose16(load_rows(src.add(half * 16 * stride + k0), stride, count, len));
            for (t, v) in columns.iter().take(len).enumerate() {
                _mm512_mask_storeu_ps(panel.as_mut_ptr().add((k0 + t) * W + half * 16), keep, *v);
            }
        }
    }
}
