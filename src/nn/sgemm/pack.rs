//! Copies operand blocks into the panel layouts the tile reads, zero-padded at ragged edges:
//! B as `[kc][NR]` per NR columns, A as `[kc][MR]` per MR rows — which is B's layout for Aᵀ, so
//! one routine packs both. Each source layout has its own loop so reads run along contiguous
//! memory.

use super::{MR, NR};
use crate::nn::view::View;

/// Packs rows `i0..i0 + mc`, columns `k0..k0 + kc` of `a` into `dst` (`⌈mc/MR⌉·kc·MR` floats).
pub fn pack_a(dst: &mut [f32], a: &View, i0: usize, mc: usize, k0: usize, kc: usize) {
    pack_panels::<MR>(dst, &a.t(), k0, kc, i0, mc);
}

/// Packs rows `k0..k0 + kc`, columns `j0..j0 + nc` of `b` into `dst` (`⌈nc/NR⌉·kc·NR` floats).
pub fn pack_b(dst: &mut [f32], b: &View, k0: usize, kc: usize, j0: usize, nc: usize) {
    pack_panels::<NR>(dst, b, k0, kc, j0, nc);
}

/// Rows `k0..k0 + kc`, columns `j0..j0 + nc` of `src` as panels `[kc][W]`, one per W columns.
fn pack_panels<const W: usize>(dst: &mut [f32], src: &View, k0: usize, kc: usize, j0: usize, nc: usize) {
    for (p, panel) in dst.chunks_exact_mut(kc * W).take(nc.div_ceil(W)).enumerate() {
        let cols = W.min(nc - p * W);
        let first = src.offset + k0 * src.row_stride + (j0 + p * W) * src.col_stride;
        if src.col_stride == 1 {
            for (kk, out) in panel.chunks_exact_mut(W).enumerate() {
                let row = &src.data[first + kk * src.row_stride..];
                if cols == W {
                    // A fixed-size copy inlines to vector moves; the general one was a `memmove`
                    // call per row, 7% of a `bench lstm` step in `perf`.
                    let whole: &mut [f32; W] = out.try_into().expect("chunk of W");
                    *whole = row[..W].try_into().expect("W floats");
                } else {
                    out[..cols].copy_from_slice(&row[..cols]);
                    out[cols..].fill(0.0);
                }
            }
        } else if src.row_stride == 1 {
            // Each column is contiguous (a PyTorch `[out, in]` weight as B, a row-major A).
            // SAFETY: `run` packs only where AVX-512F is present; the view's extent (asserted by
            // `product`) covers the `cols` columns of `kc` floats read.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                super::transpose::pack_panel::<W>(panel, src.data.as_ptr().add(first), src.col_stride, cols, kc)
            }
        } else {
            for j in 0..W {
                for kk in 0..kc {
                    panel[kk * W + j] = if j < cols {
                        src.data[first + j * src.col_stride + kk * src.row_stride]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}
