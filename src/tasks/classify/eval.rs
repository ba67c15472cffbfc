//! `tsumugi classify eval`: scores a finished run on labelled data (its own test split by default).

use super::featurize::{load_vectors_for, matrix};
use super::predict::SavedRun;
use super::source::locate;
use super::trainer::evaluate as run_model;
use crate::data::labeled;
use crate::train::metrics::{evaluate, Evaluation};
use anyhow::{bail, Result};

/// Evaluates on `data` (a dataset name, directory or file; default: the run's own data). For a
/// name or directory the test split is used; a file is used whole.
pub fn run(saved: &SavedRun, data: Option<&str>) -> Result<(String, Evaluation)> {
    let spec = data.unwrap_or(&saved.cfg.data);
    let (train, _, test) = locate(spec)?;
    let file = if std::path::Path::new(spec).is_file() {
        train
    } else {
        match test {
            Some(t) => t,
            None => bail!("{spec} has no test split; pass a labelled file with --data"),
        }
    };
    let examples = labeled::read(&file)?;
    let vectors = load_vectors_for(
        &saved.cfg.vectors,
        saved.cfg.tokenizer,
        examples.iter().map(|e| e.text.as_str()),
    )?;
    if vectors.dim() != saved.model.spec.input_dim {
        bail!(
            "vectors {} have {} dimensions, the model was trained on {}",
            saved.cfg.vectors,
            vectors.dim(),
            saved.model.spec.input_dim
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
    let (loss, _, predicted) = run_model(&saved.model, &m, vectors.dim());
    Ok((
        file.display().to_string(),
        evaluate(&m.y, &predicted, &saved.labels, loss),
    ))
}
