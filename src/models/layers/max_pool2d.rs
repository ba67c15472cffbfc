//! `nn.MaxPool2d(2, 2)` over [`Backend`] on channels-last `[N·H·W, C]`: the four pixels of
//! each window are gathered as four "steps" `[4·N·PH·PW, C]`, and
//! [`Backend::max_over_steps`] takes their maximum with its argmax, so the backward is two
//! scatter-adds. An odd last row or column is dropped, as torch does.

use super::conv2d::Grid;
use crate::compute::Backend;
use anyhow::{ensure, Result};

pub struct MaxPoolTape<B: Backend> {
    sources: B::Ids,
    argmax: B::Ids,
    grid: Grid,
    channels: usize,
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
    // sources[t, q]: pixel t (of the window's four) of pooled pixel q, step-major
    let mut sources = Vec::with_capacity(4 * p.pixels());
    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        for n in 0..p.n {
            for y in 0..p.h {
                for x in 0..p.w {
                    sources.push(((n * g.h + 2 * y + dy) * g.w + 2 * x + dx) as u32);
                }
            }
        }
    }
    let sources = be.upload_ids(&sources)?;
    let mut windows = be.scratch(4 * p.pixels() * channels)?; // every row gathered
    be.gather_rows(&mut windows, x, &sources, channels)?;
    let mut out = be.scratch(p.pixels() * channels)?; // every value written
    let mut argmax = be.upload_ids(&vec![0; p.pixels() * channels])?;
    let lengths = be.upload_ids(&vec![4; p.pixels()])?;
    be.max_over_steps(&mut out, &mut argmax, &windows, &lengths, channels)?;
    be.release(windows);
    Ok((
        out,
        MaxPoolTape {
            sources,
            argmax,
            grid: g,
            channels,
        },
    ))
}

/// dy `[N·PH·PW, C]` → dx `[N·H·W, C]`: each gradient goes to its window's maximum.
pub fn backward<B: Backend>(be: &B, tape: &MaxPoolTape<B>, dy: &B::Buf) -> Result<B::Buf> {
    let c = tape.channels;
    let mut d_windows = be.zeros(4 * pooled_grid(tape.grid).pixels() * c)?;
    be.scatter_add_rows(&mut d_windows, dy, &tape.argmax, 1)?;
    let mut dx = be.zeros(tape.grid.pixels() * c)?;
    be.scatter_add_rows(&mut dx, &d_windows, &tape.sources, c)?;
    be.release(d_windows);
    Ok(dx)
}
