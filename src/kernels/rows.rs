//! Row gathers and scatter-adds over `f32` tables, the CPU's side of
//! `Backend::gather_rows` and `scatter_add_rows` (embeddings, pooling windows, a convolution's
//! patches): fixed-width copies instead of a `memmove` call per row, and both split among the
//! threads when large, in a way that keeps the bits of one thread.

use super::fastmath::widest_vectors;
use anyhow::Result;
use rayon::prelude::*;

/// Row copies and scatter-adds over fewer values than this run on one thread.
const PARALLEL_FROM: usize = 1 << 16;

/// Scatter-adds of narrower rows run on one thread.
const SPLIT_WIDTH: usize = 16;

/// Every id a row of a table of `len` values in rows of `width`; `what` names the operation in
/// the error.
pub fn check_ids(what: &str, ids: &[u32], len: usize, width: usize) -> Result<()> {
    let rows = len / width.max(1);
    // the largest id first: a branch-free pass the compiler vectorises (an early-exit search
    // over a convolution's 1.1 M patch ids a step was 1.75% of the CNN epoch); the first id
    // outside is looked for only when there is one
    let largest = ids.iter().fold(0u32, |m, &id| m.max(id));
    if (largest as usize) < rows {
        return Ok(());
    }
    match ids.iter().find(|&&id| id as usize >= rows) {
        Some(id) => anyhow::bail!("{what}: id {id} outside a table of {rows} rows"),
        None => Ok(()),
    }
}

/// `dst[i, :] = table[ids[i], :]`, rows of `width`, in blocks on every thread when large.
/// Every id must be a row of `table` ([`check_ids`]: this panics otherwise).
pub fn gather_rows(dst: &mut [f32], table: &[f32], ids: &[u32], width: usize) {
    if width == 0 {
        return;
    }
    let copy = |dst: &mut [f32], ids: &[u32]| match width {
        1 => dst.iter_mut().zip(ids).for_each(|(d, &id)| *d = table[id as usize]),
        16 => copy_rows::<16>(dst, table, ids),
        32 => copy_rows::<32>(dst, table, ids),
        64 => copy_rows::<64>(dst, table, ids),
        _ => {
            for (out, &id) in dst.chunks_exact_mut(width).zip(ids) {
                out.copy_from_slice(&table[id as usize * width..][..width]);
            }
        }
    };
    if dst.len() < PARALLEL_FROM {
        return copy(dst, ids);
    }
    let rows = (PARALLEL_FROM / width).max(1);
    dst.par_chunks_mut(rows * width)
        .zip(ids.par_chunks(rows))
        .for_each(|(dst, ids)| copy(dst, ids));
}

/// Rows `ids` of `table` (rows of `W`) into `dst`: a fixed-size copy is a few vector moves,
/// where `copy_from_slice` of an unknown length calls `memmove` for every row.
fn copy_rows<const W: usize>(dst: &mut [f32], table: &[f32], ids: &[u32]) {
    let table = table.as_chunks::<W>().0;
    for (out, &id) in dst.as_chunks_mut::<W>().0.iter_mut().zip(ids) {
        *out = table[id as usize];
    }
}

/// `table[ids[i], :] += rows[i, :]`, rows of `width`. Each destination row gets its rows added
/// in order of `i`, as one thread would add them, so when large the rows the ids reach are
/// split among the threads and each walks every id, adding only those it owns: the same bits
/// for any thread count. Rows narrower than [`SPLIT_WIDTH`] stay on one thread, where walking
/// every id twice costs as much as the adds. Every id must be a row of `table`
/// ([`check_ids`]: this panics otherwise).
pub fn scatter_add_rows(table: &mut [f32], rows: &[f32], ids: &[u32], width: usize) {
    if width == 0 {
        return;
    }
    let add = |part: &mut [f32], lo: usize| add_owned_rows(part, lo, rows, ids, width);
    let threads = rayon::current_num_threads();
    if rows.len() < PARALLEL_FROM || threads == 1 || width < SPLIT_WIDTH {
        return add(table, 0);
    }
    // split the rows the ids reach (a convolution's block reaches a narrow band), not the table
    let (first, last) = ids.iter().fold((u32::MAX, 0), |(lo, hi), &id| (lo.min(id), hi.max(id)));
    let (first, last) = (first as usize, last as usize);
    if last < first {
        return;
    }
    let per = (last + 1 - first).div_ceil(threads).max(1);
    table[first * width..(last + 1) * width]
        .par_chunks_mut(per * width)
        .enumerate()
        .for_each(|(t, part)| add(part, first + t * per));
}

widest_vectors! {
    /// The part of [`scatter_add_rows`] that lands in `part`, the table's rows from `lo` on.
    fn add_owned_rows(part: &mut [f32], lo: usize, rows: &[f32], ids: &[u32], width: usize) = add_owned_rows_body;
}

#[inline(always)]
fn add_owned_rows_body(part: &mut [f32], lo: usize, rows: &[f32], ids: &[u32], width: usize) {
    let hi = lo + part.len() / width;
    if width == 1 && lo == 0 && hi == part.len() {
        // the whole table, one value per id (a pooling or flattening gradient)
        for (v, &id) in rows.iter().zip(ids) {
            part[id as usize] += v;
        }
        return;
    }
    for (row, &id) in rows.chunks_exact(width).zip(ids) {
        let id = id as usize;
        if (lo..hi).contains(&id) {
            part[(id - lo) * width..][..width]
                .iter_mut()
                .zip(row)
                .for_each(|(t, v)| *t += v);
        }
    }
}

widest_vectors! {
    /// One pixel of a 2×2 max pooling's backward: `px[j] = 0 + dy[j]` where the window's
    /// maximum `at[j]` is this pixel's value `first + j`, else 0 (a select, so it vectorises;
    /// `0 + dy` keeps the bits a scatter-add into zeros gives, −0 becoming +0).
    pub fn from_window(px: &mut [f32], dy: &[f32], at: &[u32], first: u32) = from_window_body;
}

#[inline(always)]
fn from_window_body(px: &mut [f32], dy: &[f32], at: &[u32], first: u32) {
    for (j, (p, (d, a))) in px.iter_mut().zip(dy.iter().zip(at)).enumerate() {
        *p = if *a == first + j as u32 { 0.0 + d } else { 0.0 };
    }
}

widest_vectors! {
    /// A running maximum over rows: where `row` holds a larger value than `best`, it replaces
    /// it and `at` gets its index, `first + j` (an equal value leaves the first in place, as
    /// torch.max takes it). Selects, not branches, so the loop vectorises.
    pub fn keep_larger(best: &mut [f32], at: &mut [u32], row: &[f32], first: u32) = keep_larger_body;
}

#[inline(always)]
fn keep_larger_body(best: &mut [f32], at: &mut [u32], row: &[f32], first: u32) {
    for (j, ((b, a), &v)) in best.iter_mut().zip(at.iter_mut()).zip(row).enumerate() {
        let larger = v > *b;
        *b = if larger { v } else { *b };
        *a = if larger { first + j as u32 } else { *a };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large enough to be split among threads, ids repeating: the same bits as one loop.
    #[test]
    fn split_gathers_and_scatter_adds_equal_one_loop_bit_for_bit() {
        for width in [1, 3, 32, 64] {
            let (table_rows, count) = (1000, 3 * PARALLEL_FROM / width + 7);
            let table: Vec<f32> = (0..table_rows * width).map(|i| (i as f32 * 0.37).sin()).collect();
            let ids: Vec<u32> = (0..count).map(|i| ((i * 7919) % table_rows) as u32).collect();
            let rows: Vec<f32> = (0..count * width).map(|i| (i as f32 * 0.11).cos()).collect();

            let mut gathered = vec![0.0; count * width];
            gather_rows(&mut gathered, &table, &ids, width);
            let mut summed = table.clone();
            scatter_add_rows(&mut summed, &rows, &ids, width);

            let mut want_summed = table.clone();
            for (i, &id) in ids.iter().enumerate() {
                let id = id as usize;
                assert_eq!(
                    gathered[i * width..][..width],
                    table[id * width..][..width],
                    "width {width}"
                );
                for j in 0..width {
                    want_summed[id * width + j] += rows[i * width + j];
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&summed), bits(&want_summed), "width {width}");
        }
    }
}
