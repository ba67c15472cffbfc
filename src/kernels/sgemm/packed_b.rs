//! A weight packed once into the tile's panel layout, so that the many products that read it
//! (a transformer's projections, an LSTM's T recurrent steps) skip packing it each time.

use super::pack::pack_b;
use super::Isa;
use crate::kernels::view::View;
use rayon::prelude::*;

/// A right operand `[k, n]` packed once into the panel layout, for a weight that many products
/// share (a transformer's projections at inference).
pub struct PackedB {
    data: Vec<f32>,
    pub(super) k: usize,
    pub(super) n: usize,
    /// The tile whose panel layout `data` has.
    pub(super) isa: Isa,
}

impl PackedB {
    /// Packs `b` (`[k, n]`, any strides) for the widest tile this CPU runs.
    ///
    /// Panics without AVX2 or AVX-512F.
    pub fn new(b: View) -> Self {
        Self::for_isa(Isa::detected().expect("sgemm needs AVX2 or AVX-512F"), b)
    }

    /// Packs `b` for `isa`'s tile: for each KC-deep block, all its NR-column panels.
    pub fn for_isa(isa: Isa, b: View) -> Self {
        let (k, n) = (b.rows, b.cols);
        assert!(b.extent() <= b.data.len(), "PackedB: view out of bounds");
        assert!(isa.present(), "PackedB: this CPU does not run {isa:?}");
        let nr = isa.nr();
        let width = n.div_ceil(nr) * nr;
        // every float is written below, padding included
        let mut data = crate::kernels::recycle::overwritable(k * width);
        // Each block's panels in groups of 8 on all threads: an LSTM packs its `W_hh` (650 × 2600)
        // twice per layer and step; best of 30 on 2 cores (AVX2), 523 → 361 µs transposed,
        // 439 → 380 µs as stored.
        const PANELS_PER_TASK: usize = 8;
        let kc_max = isa.kc_for(k);
        for k0 in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - k0);
            data[k0 * width..(k0 + kc) * width]
                .par_chunks_mut(PANELS_PER_TASK * kc * nr)
                .enumerate()
                .for_each(|(task, panels)| {
                    let j0 = task * PANELS_PER_TASK * nr;
                    pack_b(isa, panels, &b, k0, kc, j0, (n - j0).min(PANELS_PER_TASK * nr));
                });
        }
        Self { data, k, n, isa }
    }

    /// The panels of block `k0` (depth `kc`) from column `j0` (a multiple of NR) on.
    pub(super) fn block(&self, k0: usize, kc: usize, j0: usize) -> &[f32] {
        let width = self.n.div_ceil(self.isa.nr()) * self.isa.nr();
        &self.data[k0 * width + j0 * kc..(k0 + kc) * width]
    }
}

impl Drop for PackedB {
    /// An LSTM packs `W_hh` anew for every forward and backward (6.8 MB at H 650): the buffer
    /// serves the next packing ([`crate::kernels::recycle`]).
    fn drop(&mut self) {
        crate::kernels::recycle::recycle(std::mem::take(&mut self.data));
    }
}
