//! The mean loss over a batchified token stream, walked in BPTT chunks with the state carried
//! from chunk to chunk, as training and `lm eval` measure perplexity. Shared by the CPU model
//! and the backend engine, which differ only in how one chunk's loss is computed.

use crate::models::cpu_lm::{LanguageModel, LstmStates};
use anyhow::Result;

/// Mean cross-entropy of the CPU model over a batchified stream `[rows, batch]`, state carried
/// across chunks.
pub fn mean_loss(model: &LanguageModel, data: &[u32], rows: usize, batch: usize, bptt: usize) -> f64 {
    let mut states: LstmStates = model.initial_state(batch);
    let loss = mean_loss_by(data, rows, batch, bptt, |tokens, targets, seq| {
        Ok(model.loss(tokens, targets, seq, batch, &mut states))
    });
    loss.expect("the CPU model's loss cannot fail")
}

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
