//! Products with a matrix of patches that is never stored whole: a convolution as "im2col and
//! one GEMM" without the im2col buffer. Patch row `p` is `segments` rows of a table, `ids[p·S
//! .. (p+1)·S]`, side by side; the products gather the patches a block of rows at a time into a
//! buffer that stays in cache and multiply it there.
//!
//! Why: the CNN-on-LUKE article's second convolution has 56,000 patch rows of 288 values at
//! batch 100, 64 MB. Gathered whole, the patches and their gradient were written to memory and
//! read back three times a step; in `perf` of `tsumugi bench qa --case cnn`, the copies, the
//! packing that re-read them and the scatter-add back took about a quarter of the epoch
//! (BENCHMARKS.md gives the epoch before and after).
//!
//! Bits: [`patches_times_weight_t`] and [`add_dy_times_weight`] give exactly what the whole
//! product gives (every element's sum runs over the same k in the same order, and the
//! scatter-add adds each destination's rows in the same order); [`dy_t_times_patches`] sums
//! over patch rows, so it adds fixed blocks' partial sums in order: the same bits for any
//! thread count, not those of one product over all rows.

use super::matmul::{view_product, Out, Start, View};
use super::recycle;
use super::rows::{check_ids, gather_rows, scatter_add_rows};
use anyhow::{ensure, Result};
use rayon::prelude::*;

/// Patch rows per block: 512 × 288 floats (the article's second convolution) is 576 KiB, in
/// L2 beside the packed panels.
const BLOCK_ROWS: usize = 512;

/// The patch matrix `[ids.len() / segments, segments · width]` over `table` `[R, width]`.
#[derive(Clone, Copy)]
pub struct Patches<'a> {
    pub table: &'a [f32],
    pub ids: &'a [u32],
    pub segments: usize,
    pub width: usize,
}

impl Patches<'_> {
    pub fn rows(&self) -> usize {
        self.ids.len() / self.segments
    }

    pub fn cols(&self) -> usize {
        self.segments * self.width
    }

    /// Every id a row of the table, whole patch rows.
    pub fn check(&self) -> Result<()> {
        check_patch_ids(self.table.len(), self.ids, self.segments, self.width)
    }

    /// Patch rows `first..first + rows` into `dst` `[rows, cols]`.
    fn gather(&self, dst: &mut [f32], first: usize, rows: usize) {
        let (s, w) = (self.segments, self.width);
        gather_rows(
            &mut dst[..rows * s * w],
            self.table,
            &self.ids[first * s..(first + rows) * s],
            w,
        );
    }
}

/// `ids` make whole patch rows of `segments`, each a row of a table of `table_len` values in
/// rows of `width`.
fn check_patch_ids(table_len: usize, ids: &[u32], segments: usize, width: usize) -> Result<()> {
    ensure!(segments > 0 && width > 0, "patches of {segments} segments of {width}");
    ensure!(
        ids.len().is_multiple_of(segments),
        "{} patch ids do not make rows of {segments} segments",
        ids.len()
    );
    ensure!(
        table_len.is_multiple_of(width),
        "a table of {table_len} values does not make rows of {width}"
    );
    check_ids("patches", ids, table_len, width)
}

/// The blocks of `rows` rows: `(first, count)`.
fn blocks(rows: usize) -> impl IndexedParallelIterator<Item = (usize, usize)> {
    (0..rows.div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(move |b| (b * BLOCK_ROWS, BLOCK_ROWS.min(rows - b * BLOCK_ROWS)))
}

/// `out[P, n] = row[n] + patches[P, K] · weight[n, K]ᵀ` (a convolution's forward, `row` its
/// bias), blocks of rows in parallel, each on one thread.
pub fn patches_times_weight_t(out: &mut [f32], row: &[f32], p: Patches, weight: &[f32], n: usize) -> Result<()> {
    p.check()?;
    let (rows, k) = (p.rows(), p.cols());
    ensure!(
        out.len() == rows * n && weight.len() == n * k && row.len() == n,
        "patch product: out {}, weight {}, row {} for {rows} patches of {k} and {n} outputs",
        out.len(),
        weight.len(),
        row.len()
    );
    let weight_t = View::row_major(weight, n, k).t();
    out.par_chunks_mut(BLOCK_ROWS * n.max(1))
        .zip(blocks(rows))
        .for_each(|(c, (first, count))| {
            let mut patches = recycle::overwritable(count * k);
            p.gather(&mut patches, first, count);
            let out = Out {
                data: c,
                offset: 0,
                row_stride: n,
            };
            view_product(out, View::row_major(&patches, count, k), weight_t, Start::Row(row), 1);
            recycle::recycle(patches);
        });
    Ok(())
}

/// `d_weight[n, K] = dy[P, n]ᵀ · patches[P, K]` (a convolution's weight gradient): each block
/// of rows' product on one thread, in parallel, then their sum in block order.
pub fn dy_t_times_patches(d_weight: &mut [f32], dy: &[f32], p: Patches, n: usize) -> Result<()> {
    p.check()?;
    let (rows, k) = (p.rows(), p.cols());
    ensure!(
        d_weight.len() == n * k && dy.len() == rows * n,
        "patch weight gradient: d_weight {}, dy {} for {rows} patches of {k} and {n} outputs",
        d_weight.len(),
        dy.len()
    );
    // one partial product per block, every value written by its product
    let mut partials = recycle::overwritable(rows.div_ceil(BLOCK_ROWS) * n * k);
    partials
        .par_chunks_mut(n * k)
        .zip(blocks(rows))
        .for_each(|(partial, (first, count))| {
            let mut patches = recycle::overwritable(count * k);
            p.gather(&mut patches, first, count);
            let out = Out {
                data: partial,
                offset: 0,
                row_stride: k,
            };
            let dy_t = View::row_major(&dy[first * n..(first + count) * n], count, n).t();
            view_product(out, dy_t, View::row_major(&patches, count, k), Start::Zero, 1);
            recycle::recycle(patches);
        });
    // each value 0 + the blocks' partials in block order, columns of values split among the
    // threads (the sum had run on the calling thread alone)
    let width = n * k;
    let columns = width.div_ceil(rayon::current_num_threads().max(1)).max(1);
    d_weight.par_chunks_mut(columns).enumerate().for_each(|(c, d)| {
        d.fill(0.0);
        for partial in partials.chunks_exact(width) {
            d.iter_mut().zip(&partial[c * columns..]).for_each(|(d, v)| *d += v);
        }
    });
    recycle::recycle(partials);
    Ok(())
}

/// `table[ids, :] += (dy[P, n] · weight[n, K])` as patch rows of `segments` rows of `width`
/// (a convolution's input gradient): as many blocks as threads at a time, each block's product
/// on one thread, then their rows added to their table rows by [`scatter_add_rows`]. (One block
/// at a time with its product split between the threads joined the threads twice per block of
/// 512 rows.)
pub fn add_dy_times_weight(
    table: &mut [f32],
    dy: &[f32],
    weight: &[f32],
    (ids, segments, width): (&[u32], usize, usize),
    n: usize,
) -> Result<()> {
    check_patch_ids(table.len(), ids, segments, width)?;
    let (rows, k, w) = (ids.len() / segments, segments * width, width);
    ensure!(
        weight.len() == n * k && dy.len() == rows * n,
        "patch input gradient: weight {}, dy {} for {rows} patches of {k} and {n} outputs",
        weight.len(),
        dy.len()
    );
    // a block per thread at a time, each block's product on its own thread, then the group's
    // rows added back in row order (the product's bits do not depend on its thread count)
    let group = BLOCK_ROWS * rayon::current_num_threads().max(1);
    let mut d_patches = recycle::overwritable(group.min(rows) * k);
    for first in (0..rows).step_by(group) {
        let count = group.min(rows - first);
        d_patches[..count * k]
            .par_chunks_mut(BLOCK_ROWS * k)
            .enumerate()
            .for_each(|(b, block)| {
                let (start, block_rows) = (first + b * BLOCK_ROWS, block.len() / k);
                let out = Out {
                    data: block,
                    offset: 0,
                    row_stride: k,
                };
                let dy_block = View::row_major(&dy[start * n..(start + block_rows) * n], block_rows, n);
                view_product(out, dy_block, View::row_major(weight, n, k), Start::Zero, 1);
            });
        let ids = &ids[first * segments..(first + count) * segments];
        scatter_add_rows(table, &d_patches[..count * k], ids, w);
    }
    recycle::recycle(d_patches);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 31 + seed * 7) % 97) as f32 - 48.0) / 48.0)
            .collect()
    }

    /// The patch matrix written out, and the three products done on it by plain loops.
    struct Reference {
        patches: Vec<f32>,
        rows: usize,
        k: usize,
    }

    impl Reference {
        fn new(p: Patches) -> Self {
            let (rows, k) = (p.rows(), p.cols());
            let mut patches = vec![0.0; rows * k];
            for (i, &id) in p.ids.iter().enumerate() {
                patches[i * p.width..][..p.width].copy_from_slice(&p.table[id as usize * p.width..][..p.width]);
            }
            Self { patches, rows, k }
        }
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{what} [{i}]: {g} vs {w}");
        }
    }

    /// Patch counts below, at and across a block (and ids repeating, as a convolution's do);
    /// widths of 1 and of a vector; each product against plain loops.
    #[test]
    fn the_three_products_match_plain_loops_on_the_patch_matrix() {
        for &(patch_rows, segments, width, table_rows, n) in &[
            (5, 9, 1, 30, 4),
            (BLOCK_ROWS, 4, 16, 700, 7),
            (2 * BLOCK_ROWS + 37, 9, 32, 1500, 64),
        ] {
            let table = values(table_rows * width, 1);
            let ids: Vec<u32> = (0..patch_rows * segments)
                .map(|i| ((i * 13 + i / segments) % table_rows) as u32)
                .collect();
            let p = Patches {
                table: &table,
                ids: &ids,
                segments,
                width,
            };
            let r = Reference::new(p);
            let (weight, row) = (values(n * r.k, 2), values(n, 3));
            let dy = values(r.rows * n, 4);

            let mut out = vec![f32::NAN; r.rows * n];
            patches_times_weight_t(&mut out, &row, p, &weight, n).unwrap();
            let want: Vec<f32> = (0..r.rows * n)
                .map(|x| {
                    let (i, j) = (x / n, x % n);
                    row[j]
                        + (0..r.k)
                            .map(|t| r.patches[i * r.k + t] * weight[j * r.k + t])
                            .sum::<f32>()
                })
                .collect();
            close(&out, &want, "forward");

            let mut d_weight = vec![f32::NAN; n * r.k];
            dy_t_times_patches(&mut d_weight, &dy, p, n).unwrap();
            let want: Vec<f32> = (0..n * r.k)
                .map(|x| {
                    let (j, t) = (x / r.k, x % r.k);
                    (0..r.rows).map(|i| dy[i * n + j] * r.patches[i * r.k + t]).sum()
                })
                .collect();
            close(&d_weight, &want, "weight gradient");

            let mut d_table = values(table.len(), 5);
            let mut want = d_table.clone();
            add_dy_times_weight(&mut d_table, &dy, &weight, (&ids, segments, width), n).unwrap();
            for i in 0..r.rows {
                for t in 0..r.k {
                    let v: f32 = (0..n).map(|j| dy[i * n + j] * weight[j * r.k + t]).sum();
                    let id = ids[i * segments + t / width] as usize;
                    want[id * width + t % width] += v;
                }
            }
            close(&d_table, &want, "input gradient");
        }
    }

    /// An id outside the table is an error naming it, before anything is written.
    #[test]
    fn an_id_outside_the_table_is_refused() {
        let table = values(8, 1);
        let p = Patches {
            table: &table,
            ids: &[0, 1, 8, 2],
            segments: 2,
            width: 1,
        };
        let mut out = vec![7.0; 4];
        let err = patches_times_weight_t(&mut out, &[0.0, 0.0], p, &[1.0; 4], 2).unwrap_err();
        assert!(err.to_string().contains("id 8"), "{err}");
        assert_eq!(out, [7.0; 4]);
    }
}
