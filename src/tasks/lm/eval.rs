//! `tsumugi lm eval`: perplexity of a trained run's best model on a text file (or its corpus's
//! test split), with the state carried across BPTT chunks as in training.

use super::saved::SavedRun;
use crate::data::corpus::{batchify, read_with};
use crate::models::cpu_lm::{LanguageModel, LstmStates};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct EvalResult {
    pub text: PathBuf,
    pub tokens: usize,
    pub loss: f64,
    pub perplexity: f64,
}

/// Mean cross-entropy over a batchified stream `[rows, batch]`, state carried across chunks.
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

/// A file path, or `ptb:SPLIT` for the cached PTB (fetched on first use).
pub fn text_path(spec: &str) -> Result<PathBuf> {
    match spec.strip_prefix("ptb:") {
        Some(split @ ("train" | "valid" | "test")) => {
            Ok(crate::tasks::datasets::ensure("ptb")?.join(format!("ptb.{split}.txt")))
        }
        Some(other) => bail!("unknown PTB split `{other}` (train, valid, test)"),
        None => Ok(PathBuf::from(spec)),
    }
}

/// Perplexity of the run's `checkpoint` on `text`, by default the run's own test split (PTB's
/// for runs that did not record their corpus).
pub fn run(run_dir: &Path, text: Option<&Path>, checkpoint: &str) -> Result<EvalResult> {
    let saved = SavedRun::open(run_dir)?;
    let own_test;
    let text = match (text, saved.corpus()?) {
        (Some(text), _) => text,
        (None, Some([_, _, test])) => {
            own_test = test;
            &own_test
        }
        (None, None) => {
            own_test = text_path("ptb:test")?;
            &own_test
        }
    };
    let (model, _) = saved.load(checkpoint)?;
    let ids = read_with(text, &saved.vocab)?;
    let batch = saved.config.eval_batch_size;
    let (data, rows) = batchify(&ids, batch);
    if rows < 2 {
        bail!(
            "{}: {} tokens are too few to evaluate at batch {batch}",
            text.display(),
            ids.len()
        );
    }
    let loss = mean_loss(&model, &data, rows, batch, saved.config.bptt);
    Ok(EvalResult {
        text: text.to_path_buf(),
        tokens: (rows - 1) * batch,
        loss,
        perplexity: loss.exp(),
    })
}
