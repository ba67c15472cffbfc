//! Copies operand blocks into the panel layouts the tile reads, zero-padded at ragged edges:
//! B as `[kc][NR]` per NR columns, A as `[kc][MR]` per MR rows — which is B's layout for Aᵀ, so
//! one routine packs both. Each source layout has its own loop so reads run along contiguous
//! memory.

use super::Isa;
use crate::kernels::view::View;

/// Packs columns `k0..k0 + kc` of `a`'s rows from `i0` on into `dst`: one `[kc][MR]` panel per
/// entry of `panels` (rows relative to `i0`, as [`a_panels`] gives them), MR the tile's rows
/// for `isa`.
pub fn pack_a(isa: Isa, dst: &mut [f32], a: &View, i0: usize, panels: &[(usize, usize)], k0: usize, kc: usize) {
    let a = a.t();
    let mr = isa.mr();
    // The whole panels before the split tail (if any) in one pass, the rest one by one.
    let whole = panels.iter().take_while(|&&(_, rows)| rows == mr).count();
    let pack: Packer = match isa {
        Isa::Avx512 => pack_panels::<{ Isa::Avx512.mr() }>,
        Isa::Avx2 => pack_panels::<{ Isa::Avx2.mr() }>,
    };
    pack(isa, dst, &a, k0, kc, i0, whole * mr);
    for (p, &(start, rows)) in panels.iter().enumerate().skip(whole) {
        pack(isa, &mut dst[p * kc * mr..], &a, k0, kc, i0 + start, rows);
    }
}

/// [`pack_panels`] for one panel width.
type Packer = fn(Isa, &mut [f32], &View, usize, usize, usize, usize);

/// `(first row, rows)` of each A panel for `mc` rows and an `mr`-row tile: whole panels, except
/// that a remainder under half a panel is not left alone: the last whole panel and it are split
/// evenly (20 rows at MR 6: 6, 6, 4, 4, not 6, 6, 6, 2). A tile of few rows streams the same B
/// panel for few multiply-adds, so its speed is bounded by cache bandwidth, not the FMAs; the
/// LSTM's 20-row recurrent products have such a remainder at both tile heights.
pub fn a_panels(mc: usize, mr: usize) -> Vec<(usize, usize)> {
    let mut panels: Vec<(usize, usize)> = (0..mc).step_by(mr).map(|i| (i, mr.min(mc - i))).collect();
    let rem = mc % mr;
    if rem > 0 && 2 * rem < mr && panels.len() >= 2 {
        let tail = mr + rem;
        let first = tail.div_ceil(2);
        let at = mc - tail;
        panels.truncate(panels.len() - 2);
        panels.extend([(at, first), (at + first, tail - first)]);
    }
    panels
}

/// Packs rows `k0..k0 + kc`, columns `j0..j0 + nc` of `b` into `dst` (`⌈nc/NR⌉·kc·NR` floats,
/// NR the tile's columns for `isa`).
pub fn pack_b(isa: Isa, dst: &mut [f32], b: &View, k0: usize, kc: usize, j0: usize, nc: usize) {
    match isa {
        Isa::Avx512 => pack_panels::<{ Isa::Avx512.nr() }>(isa, dst, b, k0, kc, j0, nc),
        Isa::Avx2 => pack_panels::<{ Isa::Avx2.nr() }>(isa, dst, b, k0, kc, j0, nc),
    }
}

/// Rows `k0..k0 + kc`, columns `j0..j0 + nc` of `src` as panels `[kc][W]`, one per W columns.
fn pack_panels<const W: usize>(isa: Isa, dst: &mut [f32], src: &View, k0: usize, kc: usize, j0: usize, nc: usize) {
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
            // SAFETY: `product` runs only on an `isa` the CPU has; the view's extent (asserted
            // there) covers the `cols` columns of `kc` floats read.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                let from = src.data.as_ptr().add(first);
                match isa {
                    Isa::Avx512 => super::transpose_avx512::pack_panel::<W>(panel, from, src.col_stride, cols, kc),
                    Isa::Avx2 => super::transpose_avx2::pack_panel::<W>(panel, from, src.col_stride, cols, kc),
                }
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

#[cfg(test)]
mod tests {
    use super::a_panels;

    /// A small remainder shares the last whole panel's rows; otherwise panels are whole.
    #[test]
    fn a_small_remainder_is_split_with_the_last_whole_panel() {
        assert_eq!(a_panels(20, 6), [(0, 6), (6, 6), (12, 4), (16, 4)]);
        assert_eq!(a_panels(19, 6), [(0, 6), (6, 6), (12, 4), (16, 3)]);
        assert_eq!(a_panels(21, 6), [(0, 6), (6, 6), (12, 6), (18, 3)]);
        assert_eq!(a_panels(20, 14), [(0, 10), (10, 10)]);
        assert_eq!(a_panels(18, 6), [(0, 6), (6, 6), (12, 6)]);
        assert_eq!(a_panels(2, 6), [(0, 2)]);
        assert_eq!(a_panels(0, 6), []);
    }
}
