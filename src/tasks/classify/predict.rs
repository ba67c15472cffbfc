//! `tsumugi classify predict`: the label of new text from a finished run, with probabilities.

use super::config::TrainConfig;
use super::featurize::load_vectors_for;
use super::trainer::load_weights_from;
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::embed::features::{mean_vectors, EmptyPolicy};
use crate::models::classifier::{Classifier, ModelSpec};
use crate::nn::loss::softmax;
use crate::nn::params::Params;
use crate::train::checkpoint::TensorFile;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;

/// A finished run: its config, labels and best weights on the host, put on a device to score
/// (`--device`; on the CPU by default, since a few thousand rows of one small product take
/// less time than a GPU takes to start).
pub struct SavedRun {
    pub cfg: TrainConfig,
    pub labels: Vec<String>,
    pub spec: ModelSpec,
    weights: Params,
}

impl SavedRun {
    /// The best weights on `be`.
    pub fn model<B: Backend>(&self, be: &B) -> Result<Classifier<B>> {
        Classifier::upload(be, self.spec.clone(), self.weights.clone())
    }
}

pub fn load_run(dir: &Path) -> Result<SavedRun> {
    let read = |name: &str| -> Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).with_context(|| {
            format!(
                "{} is not a finished classify run: cannot read {}",
                dir.display(),
                p.display()
            )
        })
    };
    let cfg: TrainConfig =
        serde_json::from_str(&read("config.json")?).with_context(|| format!("{}/config.json", dir.display()))?;
    let labels: Vec<String> =
        serde_json::from_str(&read("labels.json")?).with_context(|| format!("{}/labels.json", dir.display()))?;
    let best = dir.join("checkpoints").join("best.safetensors");
    // one read of the checkpoint gives both the model description and the weights
    let mut file = TensorFile::read(&best)?;
    let meta = file
        .meta
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{}: no tsumugi metadata", best.display()))?;
    let spec: ModelSpec = serde_json::from_value(meta["model"].clone())
        .with_context(|| format!("{}: model description", best.display()))?;
    if spec.classes != labels.len() {
        bail!(
            "{}: the model has {} classes but labels.json lists {}",
            dir.display(),
            spec.classes,
            labels.len()
        );
    }
    let weights = load_weights_from(&mut file, &spec)?;
    Ok(SavedRun {
        cfg,
        labels,
        spec,
        weights,
    })
}

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub text: String,
    pub label: String,
    pub probabilities: Vec<(String, f32)>,
    /// No word of the text has a vector: under the run's `--empty zero` it was classified
    /// from the zero vector (what training did with such texts), so the label says little.
    pub no_known_word: bool,
}

/// Texts to predict, one per non-blank line of `path` (`-`: standard input).
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let (bytes, shown) = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).context("reading standard input")?;
        (b, Path::new("<stdin>"))
    } else {
        (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            path,
        )
    };
    let texts: Vec<String> = crate::data::lines::text_lines(&bytes, shown)
        .map(|line| line.map(|(_, text)| text.trim().to_string()))
        .collect::<Result<_>>()?;
    if texts.is_empty() {
        bail!("{}: no text to classify", shown.display());
    }
    Ok(texts)
}

/// The label of each text, with every label's probability, scored on `device`.
pub fn predict(run: &SavedRun, texts: &[String], device: Device) -> Result<Vec<Prediction>> {
    for (i, t) in texts.iter().enumerate() {
        if t.trim().is_empty() {
            bail!("text {} is empty", i + 1);
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = load_vectors_for(&run.cfg.vectors, run.cfg.tokenizer, refs.iter().copied())?;
    if vectors.dim() != run.spec.input_dim {
        bail!(
            "vectors {} have {} dimensions, the model was trained on {}",
            run.cfg.vectors,
            vectors.dim(),
            run.spec.input_dim
        );
    }
    let (x, coverage) = mean_vectors(&refs, &vectors, run.cfg.tokenizer, EmptyPolicy::Zero)?;
    // the run's own policy: training with `--empty error` refused such texts, so does this
    if let (Some(&row), EmptyPolicy::Error) = (coverage.empty_rows.first(), run.cfg.empty_policy) {
        bail!(
            "no word of text {} ({:?}) has a vector in {} (the run was trained with --empty error)",
            row + 1,
            texts[row],
            run.cfg.vectors
        );
    }
    let logits = on_device(
        device,
        Logits {
            run,
            x: &x,
            rows: texts.len(),
        },
    )?;
    let probs = softmax(&logits, run.labels.len());
    Ok(texts
        .iter()
        .zip(probs.chunks_exact(run.labels.len()))
        .enumerate()
        .map(|(i, (text, p))| {
            let mut probabilities: Vec<(String, f32)> = run.labels.iter().cloned().zip(p.iter().copied()).collect();
            probabilities.sort_by(|a, b| b.1.total_cmp(&a.1));
            Prediction {
                text: text.clone(),
                label: probabilities[0].0.clone(),
                probabilities,
                no_known_word: coverage.empty_rows.contains(&i),
            }
        })
        .collect())
}

/// The logits `[rows, classes]` of features `x` `[rows, input]`, on a backend.
struct Logits<'a> {
    run: &'a SavedRun,
    x: &'a [f32],
    rows: usize,
}

impl OnBackend for Logits<'_> {
    type Output = Vec<f32>;
    fn run<B: Backend>(self, be: &B) -> Result<Vec<f32>> {
        let mut model = self.run.model(be)?;
        let x = be.upload(self.x)?;
        be.download(&model.logits(be, &x, self.rows)?)
    }
}
