//! `nn.MaxPool2d(2, 2)` over [`Backend`] on channels-last `[N·H·W, C]`:
//! [`Backend::max_pool2x2`] keeps where each maximum came from, and the backward sends each
//! gradient there (the CNN's runs with the batch norm's before it:
//! [`super::batch_norm::BatchNorm::backward_pooled`]). An odd last row or column is
//! dropped, as torch does.

use super::conv2d::Grid;
use crate::compute::Backend;
use anyhow::{ensure, Result};

pub struct MaxPoolTape<B: Backend> {
    /// `[N·PH·PW·C]`: the flat index in the input of each maximum.
    argmax: B::Ids,
    grid: Grid,
}

impl<B: Backend> MaxPoolTape<B> {
    /// `[N·PH·PW·C]`: the flat index in the input of each maximum.
    pub fn argmax(&self) -> &B::Ids {
        &self.argmax
    }

    /// The input grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }
}

/// The pooled grid of an input grid.
pub fn pooled_grid(g: Grid) -> Grid {
    Grid {
        n: g.n,
        h: g.h / 2,
        w: g.w / 2,
    }
}

/// `x` `[N·H·W, C]` → `[N·PH·PW, C]`.
pub fn forward<B: Backend>(be: &B, x: &B::Buf, g: Grid, channels: usize) -> Result<(B::Buf, MaxPoolTape<B>)> {
    let p = pooled_grid(g);
    ensure!(p.h > 0 && p.w > 0, "2×2 max pooling over a {}×{} grid", g.h, g.w);
    let mut out = be.scratch(p.pixels() * channels)?; // every value written
    let mut argmax = be.ids_for_output(p.pixels() * channels)?;
    be.max_pool2x2(&mut out, &mut argmax, x, (g.n, g.h, g.w), channels)?;
    Ok((out, MaxPoolTape { argmax, grid: g }))
}
