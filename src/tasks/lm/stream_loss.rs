//! The mean loss over a batchified token stream, walked in BPTT chunks with the state carried
//! from chunk to chunk, as training and `lm eval` measure perplexity; the engine gives one
//! chunk's loss.

use anyhow::Result;

/// Mean over the BPTT chunks of a batchified stream `[rows, batch]` of `chunk_loss(tokens,
/// targets, steps)` (each chunk's mean), weighted by the chunk's tokens.
pub fn mean_loss_by(
    data: &[u32],
    rows: usize,
    batch: usize,
    bptt: usize,
    mut chunk_loss: impl FnMut(&[u32], &[u32], usize) -> Result<f64>,
) -> Result<f64> {
    let (mut total, mut count) = (0.0, 0usize);
    let mut i = 0;
    while i + 1 < rows {
        let seq = bptt.min(rows - 1 - i);
        let tokens = &data[i * batch..(i + seq) * batch];
        let targets = &data[(i + 1) * batch..(i + 1 + seq) * batch];
        total += chunk_loss(tokens, targets, seq)? * (seq * batch) as f64;
        count += seq * batch;
        i += seq;
    }
    Ok(total / count.max(1) as f64)
}
