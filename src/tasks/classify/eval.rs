//! `tsumugi classify eval`: scores a finished run on labelled data (its own test split by default).

use super::featurize::{load_vectors_for, matrix, Matrix};
use super::predict::SavedRun;
use super::source::locate;
use super::trainer::evaluate as run_model;
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::labeled;
use crate::train::metrics::{evaluate, Evaluation};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Evaluates on `data` (a dataset name, directory or file): for a name or directory its test
/// split, a file whole. Without `data`, the run's own test split: the `--test` file it was
/// trained with, else its data's test split (never its training file). The model runs on
/// `device`.
pub fn run(saved: &SavedRun, data: Option<&str>, device: Device) -> Result<(String, Evaluation)> {
    let file = match (data, &saved.cfg.test) {
        (Some(spec), _) => test_split_of(spec, true)?,
        (None, Some(test)) => test.clone(),
        (None, None) => test_split_of(&saved.cfg.data, false)?,
    };
    let examples = labeled::read(&file)?;
    let vectors = load_vectors_for(
        &saved.cfg.vectors,
        saved.cfg.tokenizer,
        examples.iter().map(|e| e.text.as_str()),
    )?;
    if vectors.dim() != saved.spec.input_dim {
        bail!(
            "vectors {} have {} dimensions, the model was trained on {}",
            saved.cfg.vectors,
            vectors.dim(),
            saved.spec.input_dim
        );
    }
    let (m, _) = matrix(
        &examples,
        &file,
        &saved.labels,
        &vectors,
        saved.cfg.tokenizer,
        saved.cfg.empty_policy,
    )?;
    let (loss, predicted) = on_device(
        device,
        Score {
            saved,
            m: &m,
            dim: vectors.dim(),
        },
    )?;
    Ok((
        file.display().to_string(),
        evaluate(&m.y, &predicted, &saved.labels, loss),
    ))
}

/// The labelled file to score for `spec`: a file itself when `whole_file` (the user named it),
/// else the test split of a dataset name or directory.
fn test_split_of(spec: &str, whole_file: bool) -> Result<PathBuf> {
    let (train, _, test) = locate(spec)?;
    if Path::new(spec).is_file() {
        if whole_file {
            return Ok(train);
        }
        bail!("the run was trained on the file {spec} with no --test file: it has no test split; pass a labelled file with --data");
    }
    match test {
        Some(t) => Ok(t),
        None => bail!("{spec} has no test split; pass a labelled file with --data"),
    }
}

/// The mean loss and the predicted class of every row of `m`, on a backend.
struct Score<'a> {
    saved: &'a SavedRun,
    m: &'a Matrix,
    dim: usize,
}

impl OnBackend for Score<'_> {
    type Output = (f64, Vec<u32>);
    fn run<B: Backend>(self, be: &B) -> Result<(f64, Vec<u32>)> {
        let mut model = self.saved.model(be)?;
        let (loss, _, predicted) = run_model(be, &mut model, self.m, self.dim)?;
        Ok((loss, predicted))
    }
}
