//! `tsumugi lm eval`: perplexity of a trained run's best model on a text file (or its corpus's
//! test split), with the state carried across BPTT chunks as in training, on the device the
//! command names (through the engine `lm train` measures with, so the CPU gives training's
//! test perplexity to the bit).

use super::config::LmRunConfig;
use super::engine;
use super::saved::SavedRun;
use crate::compute::Device;
use crate::data::corpus::{batchify, read_with};
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
/// for runs that did not record their corpus), computed on `device`.
pub fn run(run_dir: &Path, text: Option<&Path>, checkpoint: &str, device: Device) -> Result<EvalResult> {
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
    let config = LmRunConfig {
        device,
        ..saved.config.clone()
    };
    let loss = engine::new(&config, model)?.mean_loss(&data, rows, batch, config.bptt)?;
    Ok(EvalResult {
        text: text.to_path_buf(),
        tokens: (rows - 1) * batch,
        loss,
        perplexity: loss.exp(),
    })
}
