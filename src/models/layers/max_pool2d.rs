//! `nn.MaxPool2d(2, 2)` over [`Backend`] on channels-last `[N·H·W, C]`: the pooling keeps
//! where each maximum came from, and the backward sends each gradient there. The CNN's runs
//! inside the batch norm → ReLU before it, both ways ([`super::batch_norm::BatchNorm::forward_pooled`]
//! and [`super::batch_norm::BatchNorm::backward_pooled`]). An odd last row or column is
//! dropped, as torch does.

use super::conv2d::Grid;
use crate::compute::Backend;

pub struct MaxPoolTape<B: Backend> {
    /// `[N·PH·PW·C]`: the flat index in the input of each maximum.
    argmax: B::Ids,
    grid: Grid,
}

impl<B: Backend> MaxPoolTape<B> {
    /// The tape of a pooling over `grid` whose maxima sit at `argmax`.
    pub fn new(argmax: B::Ids, grid: Grid) -> Self {
        Self { argmax, grid }
    }

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
