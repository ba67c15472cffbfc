//! The LSTM's step-by-step part: one recurrent product and the gate math per step, forward and
//! backward.
//!
//! The sequences of a batch do not depend on each other, so a large enough batch is cut into one
//! share of sequences per thread and each thread runs the whole recurrence for its share, with
//! no synchronisation per step, and its products and gate math on its own. Splitting each
//! step's product by columns instead (every thread all B rows, half the columns, then the gate
//! math on one thread) forks and joins twice per step. Measured on 2 cores (AVX2), 35 products
//! of 20 rows: 20 × 650 · 650 × 2600 at 178–185 GFLOP/s against 152–179 by columns,
//! 20 × 2600 · 2600 × 650 at 180–182 against 159–169. Every output is summed in the same
//! order either way (sgemm's guarantee), so the results are the same bits.

use super::lstm_cell::{cell_backward, cell_forward, CellTape};
use crate::kernels::matmul::{matmul, FixedB, Layout};
use std::ops::Range;

/// Fewest sequences a thread's share may have: below one AVX2 register tile (6 rows) per
/// thread, a product's rows would no longer fill the tile.
const MIN_SEQUENCES_PER_SHARE: usize = 6;

/// `W_hh` (`[k, n]` as `layout` says) as the right operand of `uses` recurrent products: packed
/// once when there are several (packing costs about one product's pass over the weight).
pub(crate) enum Recurrent<'a> {
    Packed(FixedB),
    InPlace {
        data: &'a [f32],
        layout: Layout,
        k: usize,
        n: usize,
    },
}

impl<'a> Recurrent<'a> {
    pub(crate) fn new(data: &'a [f32], layout: Layout, k: usize, n: usize, uses: usize) -> Self {
        if uses > 1 {
            Self::Packed(FixedB::new(data, layout, k, n))
        } else {
            Self::InPlace { data, layout, k, n }
        }
    }

    /// `c[m, n] (+)= a[m, k] · W`, on all threads, or on this one when `alone`.
    fn left_multiply(&self, c: &mut [f32], a: &[f32], m: usize, accumulate: bool, alone: bool) {
        match self {
            Self::Packed(w) if alone => w.left_multiply_on_this_thread(c, a, m, accumulate),
            Self::Packed(w) => w.left_multiply(c, a, m, accumulate),
            Self::InPlace { data, layout, k, n } => matmul(c, a, Layout::Plain, data, *layout, m, *k, *n, accumulate),
        }
    }
}

/// The batch's sequences, cut into contiguous shares: one per thread when every thread gets at
/// least [`MIN_SEQUENCES_PER_SHARE`] and the weight is packed (a sequence of several steps),
/// else one share for all.
fn shares(batch: usize, w_hh: &Recurrent) -> Vec<Range<usize>> {
    let count = match w_hh {
        Recurrent::Packed(_) => rayon::current_num_threads().min(batch / MIN_SEQUENCES_PER_SHARE).max(1),
        Recurrent::InPlace { .. } => 1,
    };
    (0..count).map(|s| s * batch / count..(s + 1) * batch / count).collect()
}

/// `buf` `[T, B, width]` cut into each share's rows of each step: `[share][t]`.
fn by_share<'a>(buf: &'a mut [f32], width: usize, batch: usize, shares: &[Range<usize>]) -> Vec<Vec<&'a mut [f32]>> {
    let mut cut: Vec<Vec<&mut [f32]>> = shares.iter().map(|_| Vec::new()).collect();
    for step in buf.chunks_exact_mut(batch * width) {
        let mut rest = step;
        for (mine, share) in cut.iter_mut().zip(shares) {
            let (head, tail) = rest.split_at_mut(share.len() * width);
            mine.push(head);
            rest = tail;
        }
    }
    cut
}

/// Runs `work` for every share, on its own thread when there are several (then each product
/// stays on that thread), or on all threads.
fn for_each_share<T: Send>(shares: &[Range<usize>], parts: Vec<T>, work: impl Fn(Range<usize>, T, bool) + Sync) {
    if shares.len() == 1 {
        let part = parts.into_iter().next().expect("one part per share");
        return work(shares[0].clone(), part, false);
    }
    rayon::scope(|s| {
        for (share, part) in shares.iter().zip(parts) {
            let work = &work;
            s.spawn(move |_| work(share.clone(), part, true));
        }
    });
}

/// A layer's sizes for one sequence batch (the steps are the buffers' length over these).
#[derive(Clone, Copy)]
pub(crate) struct Sizes {
    pub batch: usize,
    pub hidden: usize,
}

/// Forward over all steps: `gates` `[T, B, 4H]` holds `x · W_ihᵀ + b` and gets
/// `h_{t-1} · W_hhᵀ` added, then becomes the activations i, f, g, o; `out` and `cells`
/// `[T, B, H]` get each step's h and c; `h0`, `c0` `[B, H]` are the initial state.
pub(crate) fn forward(
    w_hh: &Recurrent,
    sizes: Sizes,
    gates: &mut [f32],
    out: &mut [f32],
    cells: &mut [f32],
    (h0, c0): (&[f32], &[f32]),
) {
    let Sizes { batch, hidden } = sizes;
    let shares = shares(batch, w_hh);
    let parts: Vec<_> = by_share(gates, 4 * hidden, batch, &shares)
        .into_iter()
        .zip(by_share(out, hidden, batch, &shares))
        .zip(by_share(cells, hidden, batch, &shares))
        .collect();
    for_each_share(&shares, parts, |share, ((mut gates, mut out), mut cells), alone| {
        let rows = share.len();
        let state = share.start * hidden..share.end * hidden;
        for t in 0..gates.len() {
            let (out_done, out_rest) = out.split_at_mut(t);
            let h_prev: &[f32] = if t == 0 { &h0[state.clone()] } else { out_done[t - 1] };
            // gates_t[rows, 4H] += h_{t-1}[rows, H] · W_hhᵀ
            w_hh.left_multiply(gates[t], h_prev, rows, true, alone);
            let (cells_done, cells_rest) = cells.split_at_mut(t);
            let c_prev: &[f32] = if t == 0 { &c0[state.clone()] } else { cells_done[t - 1] };
            for (((g, c), h), cp) in gates[t]
                .chunks_exact_mut(4 * hidden)
                .zip(cells_rest[0].chunks_exact_mut(hidden))
                .zip(out_rest[0].chunks_exact_mut(hidden))
                .zip(c_prev.chunks_exact(hidden))
            {
                cell_forward(g, cp, c, h);
            }
        }
    });
}

/// What backward reads of forward, time-major like [`forward`]'s buffers.
pub(crate) struct Taped<'a> {
    /// Activations `[T, B, 4H]`.
    pub gates: &'a [f32],
    /// Cell states `[T, B, H]`.
    pub cells: &'a [f32],
    /// Initial cell state `[B, H]`.
    pub c0: &'a [f32],
}

/// Backward over all steps in reverse from d loss/d outputs `d_out` `[T, B, H]`: writes every
/// step's d gates into `d_gates` `[T, B, 4H]`. The final state is treated as detached.
pub(crate) fn backward(w_hh: &Recurrent, sizes: Sizes, taped: Taped, d_out: &[f32], d_gates: &mut [f32]) {
    let Sizes { batch, hidden } = sizes;
    let h4 = 4 * hidden;
    let shares = shares(batch, w_hh);
    let parts = by_share(d_gates, h4, batch, &shares);
    for_each_share(&shares, parts, |share, mut d_gates, alone| {
        let rows = share.len();
        let mut dh_next = vec![0f32; rows * hidden];
        let mut dc_next = vec![0f32; rows * hidden];
        for t in (0..d_gates.len()).rev() {
            // this share's rows of step t in a [T, B, width] buffer
            let at = |width: usize, t: usize| (t * batch + share.start) * width..(t * batch + share.end) * width;
            let c_prev = if t == 0 {
                &taped.c0[share.start * hidden..share.end * hidden]
            } else {
                &taped.cells[at(hidden, t - 1)]
            };
            let c_t = &taped.cells[at(hidden, t)];
            let dy = &d_out[at(hidden, t)];
            let g = &taped.gates[at(h4, t)];
            for (b, (gr, dgr)) in g.chunks_exact(h4).zip(d_gates[t].chunks_exact_mut(h4)).enumerate() {
                let row = b * hidden..(b + 1) * hidden;
                let state = CellTape {
                    gates: gr,
                    c_prev: &c_prev[row.clone()],
                    c: &c_t[row.clone()],
                };
                cell_backward(state, &dy[row.clone()], &dh_next[row.clone()], &mut dc_next[row], dgr);
            }
            // dh_{t-1}[rows, H] = d_gates_t[rows, 4H] · W_hh[4H, H]
            w_hh.left_multiply(&mut dh_next, d_gates[t], rows, false, alone);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_contiguous_and_cover_the_batch() {
        let w = vec![0f32; 4];
        let packed = Recurrent::Packed(FixedB::new(&w, Layout::Plain, 2, 2));
        let threads = rayon::current_num_threads();
        let got = shares(20, &packed);
        assert_eq!(got.len(), threads.min(20 / MIN_SEQUENCES_PER_SHARE));
        assert_eq!(got.first().map(|r| r.start), Some(0));
        assert_eq!(got.last().map(|r| r.end), Some(20));
        assert!(got.windows(2).all(|w| w[0].end == w[1].start));
        let one = |batch: usize, w: &Recurrent| {
            let got = shares(batch, w);
            got.len() == 1 && got[0] == (0..batch)
        };
        assert!(one(5, &packed), "too few sequences to split");
        let in_place = Recurrent::InPlace {
            data: &w,
            layout: Layout::Plain,
            k: 2,
            n: 2,
        };
        assert!(one(20, &in_place), "a weight used in place is one step: not split");
    }

    #[test]
    fn by_share_cuts_every_step_at_the_same_rows() {
        let mut buf: Vec<f32> = (0..3 * 4 * 2).map(|v| v as f32).collect();
        let cut = by_share(&mut buf, 2, 4, &[0..1, 1..4]);
        assert_eq!(
            cut[0].iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
            [vec![0.0, 1.0], vec![8.0, 9.0], vec![16.0, 17.0]]
        );
        assert_eq!(cut[1][2], [18.0, 19.0, 20.0, 21.0, 22.0, 23.0]);
    }
}
