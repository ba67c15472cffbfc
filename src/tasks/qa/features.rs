//! `qa features`: one vector per question (or per choice) from a LUKE checkpoint's hidden
//! states, as the CNN-on-LUKE article builds its CNN's input.
//!
//! The article tokenises each question with its five choices as five (question, choice) pairs
//! padded to the longest, takes `hidden_states[-2]` and averages choice 0's row over every
//! position, padding included (`--pool padded-mean --choices first --layer -2`). Several
//! questions share one forward here; each question's mean still runs over its own pairs'
//! longest length, because a padded position's state does not depend on how many pads follow.
//! With `--choices first` only choice 0's pair runs (padded to the question's longest pair):
//! the five pairs are separate sequences, so the other four never touch its states, and the
//! article's features cost a fifth of its forward.

use crate::compute::dispatch::{self, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::jcqa::{self, Question};
use crate::luke::batch::Batch;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::tokenizer::{Encoding, LukeTokenizer};
use crate::report::run_dir::absolute;
use crate::train::checkpoint::{write_tensors, TensorFile};
use crate::train::progress::EpochProgress;
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a (question, choice) pair's token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// The mean over every position of the question's pairs padded to their longest, padding
    /// included (the article's `np.mean(embedding, axis=0)`).
    PaddedMean,
    /// The mean over the pair's real tokens.
    Mean,
    /// The first token's state (`<s>`).
    Cls,
}

/// Which choices' pairs give features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choices {
    /// Choice 0's pair only (the article's `[0]`): `[N, 1, H]`.
    First,
    /// Every choice's pair: `[N, C, H]`, for heads that score each choice.
    All,
}

/// One `qa features` run, resolved.
#[derive(Debug, Clone)]
pub struct FeaturesJob {
    pub model: PathBuf,
    pub data: PathBuf,
    /// `hidden_states` index as Python counts: 0 = embeddings, −1 = the last layer.
    pub layer: i64,
    pub pool: Pool,
    pub choices: Choices,
    pub out: PathBuf,
    /// Questions per forward.
    pub batch_size: usize,
    /// Replace an existing `out`.
    pub overwrite: bool,
    /// Where LUKE runs.
    pub device: Device,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesSummary {
    pub out: PathBuf,
    pub questions: usize,
    pub choices: usize,
    pub hidden: usize,
    /// The layer as a non-negative `hidden_states` index.
    pub layer: usize,
}

/// `hidden_states[layer]` as a non-negative index into `layers + 1` states.
pub fn resolve_layer(layer: i64, layers: usize) -> Result<usize> {
    let states = layers as i64 + 1;
    let index = if layer < 0 { states + layer } else { layer };
    if !(0..states).contains(&index) {
        bail!(
            "--layer {layer}: the model has {states} hidden states (embeddings and {layers} layers), so --layer is in -{states}..={layers}"
        );
    }
    Ok(index as usize)
}

pub fn extract(job: &FeaturesJob) -> Result<FeaturesSummary> {
    ensure!(job.batch_size > 0, "--batch-size must be at least 1");
    if job.out.exists() && !job.overwrite {
        bail!("{} exists; give --overwrite to replace it", job.out.display());
    }
    let questions = jcqa::read_labelled(&job.data)?;
    dispatch::check(job.device)?;
    dispatch::on_device(job.device, Extract { job, questions })
}

/// The extraction on the device the job names.
struct Extract<'a> {
    job: &'a FeaturesJob,
    questions: Vec<Question>,
}

impl OnBackend for Extract<'_> {
    type Output = FeaturesSummary;

    fn run<B: Backend>(self, be: &B) -> Result<FeaturesSummary> {
        extract_on(be, self.job, &self.questions)
    }
}

fn extract_on<B: Backend>(be: &B, job: &FeaturesJob, questions: &[Question]) -> Result<FeaturesSummary> {
    let ckpt = LukeCheckpoint::load(be, &job.model)?;
    let tok = LukeTokenizer::from_dir(&job.model)?;
    let model = &ckpt.model;
    let layer = resolve_layer(job.layer, model.config.num_hidden_layers)?;
    let h = model.config.hidden_size;
    let max_words = model.config.max_words();
    let per_question = questions[0].choices.len();
    let kept = match job.choices {
        Choices::First => 1,
        Choices::All => per_question,
    };
    // encode everything first, so a bad row stops the run before the long part
    let encodings: Vec<Vec<Encoding>> = questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            encode_question(&tok, q, max_words).with_context(|| format!("{}: question {}", job.data.display(), i + 1))
        })
        .collect::<Result<_>>()?;
    let mut features = Vec::with_capacity(questions.len() * kept * h);
    let chunks = questions.len().div_ceil(job.batch_size);
    let mut progress = EpochProgress::new(1, 1, questions.len() as u64, "questions");
    for (c, group) in encodings.chunks(job.batch_size).enumerate() {
        // Only the kept pairs run: each pair is its own sequence, so choice 0's states do not
        // depend on the other four, only on the padding to the question's longest pair.
        let refs: Vec<&Encoding> = group.iter().flat_map(|pairs| &pairs[..kept]).collect();
        let longest = group.iter().flatten().map(|e| e.input_ids.len()).max().unwrap_or(0);
        let batch = Batch::padded_to(&refs, tok.pad, tok.entity_pad, longest);
        let hidden = model.word_hidden_at(be, &batch, layer)?; // [B·kept, W, H]
        for (q, pairs) in group.iter().enumerate() {
            let states = &hidden[q * kept * batch.words * h..][..kept * batch.words * h];
            features.extend(pool_question(states, batch.words, h, pairs, job.pool, kept));
        }
        let done = ((c + 1) * job.batch_size).min(questions.len());
        progress.update(done as u64, || format!("{} of {chunks} batches", c + 1));
    }
    progress.finish();
    let labels: Vec<i64> = questions.iter().map(|q| q.label.unwrap_or(0) as i64).collect();
    let n = questions.len();
    let meta = serde_json::json!({
        "model": absolute(&job.model),
        "data": absolute(&job.data),
        "layer": layer,
        "pool": job.pool,
        "choices": job.choices,
        "options": per_question,
    });
    write_tensors(
        &job.out,
        &[("features".into(), vec![n, kept, h], &features)],
        &[("labels".into(), vec![n], labels)],
        Some(&meta),
    )?;
    Ok(FeaturesSummary {
        out: job.out.clone(),
        questions: n,
        choices: kept,
        hidden: h,
        layer,
    })
}

/// One question's features `[kept, H]` from its pairs' states `[C, W, H]` (padded to `W`).
pub fn pool_question(states: &[f32], words: usize, h: usize, pairs: &[Encoding], pool: Pool, kept: usize) -> Vec<f32> {
    let longest = pairs.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(kept * h);
    for (k, enc) in pairs.iter().enumerate().take(kept) {
        let rows = &states[k * words * h..][..words * h]; // [W, H]
        let over = match pool {
            Pool::PaddedMean => longest,
            Pool::Mean => enc.input_ids.len(),
            Pool::Cls => 1,
        };
        out.extend(mean_rows(&rows[..over * h], h));
    }
    out
}

/// The question paired with each of its choices, as transformers' tokenizer pairs them.
pub fn encode_question(tok: &LukeTokenizer, q: &Question, max_words: usize) -> Result<Vec<Encoding>> {
    q.choices
        .iter()
        .map(|c| tok.encode_pair(&q.question, c, max_words))
        .collect()
}

/// The mean of `rows` `[R, H]` (R ≥ 1), summed in f64 so that the order of the sum does not
/// show at f32 precision.
fn mean_rows(rows: &[f32], h: usize) -> Vec<f32> {
    let n = rows.len() / h;
    let mut sum = vec![0f64; h];
    for row in rows.chunks_exact(h) {
        sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
    }
    sum.into_iter().map(|s| (s / n as f64) as f32).collect()
}

/// A feature file as `qa features` writes it: `features` `[N, C, H]` and `labels` `[N]`.
#[derive(Debug, Clone)]
pub struct FeatureFile {
    pub features: Vec<f32>,
    pub labels: Vec<usize>,
    pub questions: usize,
    pub choices: usize,
    pub hidden: usize,
    /// Answer choices per question (the logits a head gives).
    pub options: usize,
    /// How the features were made (`pool`, `choices`, `layer`, …), when recorded.
    pub meta: Option<serde_json::Value>,
}

impl FeatureFile {
    /// Reads and checks a feature file: shapes agree, every value is finite, every label
    /// names one of the question's choices (their number is recorded by `qa features`, or is
    /// `C` for one row per choice).
    pub fn read(path: &Path) -> Result<Self> {
        let file = TensorFile::read(path)?;
        let src = path.display();
        let (shape, features) = file
            .f32
            .get("features")
            .ok_or_else(|| anyhow!("{src}: no `features` tensor (write one with `tsumugi qa features`)"))?;
        let (lshape, labels) = file
            .i64
            .get("labels")
            .ok_or_else(|| anyhow!("{src}: no `labels` tensor (i64)"))?;
        let [n, c, h] = shape[..] else {
            bail!("{src}: `features` has shape {shape:?}; expected [questions, choices, hidden]");
        };
        ensure!(n > 0 && c > 0 && h > 0, "{src}: `features` is empty ({shape:?})");
        ensure!(
            lshape[..] == [n],
            "{src}: `labels` has shape {lshape:?}; expected [{n}]"
        );
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            bail!("{src}: `features` value {i} (question {}) is not finite", i / (c * h));
        }
        let recorded = file
            .meta
            .as_ref()
            .and_then(|m| m.get("options"))
            .and_then(|v| v.as_u64());
        let classes = match recorded {
            Some(o) => o as usize,
            None if c > 1 => c,
            None => bail!("{src}: one feature row per question and no recorded number of answer choices (`options` in its metadata, as `tsumugi qa features` writes)"),
        };
        ensure!(
            c == 1 || c == classes,
            "{src}: {c} feature rows per question for {classes} answer choices"
        );
        let labels = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                usize::try_from(l)
                    .ok()
                    .filter(|&l| l < classes)
                    .ok_or_else(|| anyhow!("{src}: label {l} of question {i} is not one of {classes} choices"))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            features: features.clone(),
            labels,
            questions: n,
            choices: c,
            hidden: h,
            options: classes,
            meta: file.meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_count_as_python_does() {
        assert_eq!(resolve_layer(-2, 12).unwrap(), 11);
        assert_eq!(resolve_layer(-1, 12).unwrap(), 12);
        assert_eq!(resolve_layer(0, 12).unwrap(), 0);
        assert_eq!(resolve_layer(-13, 12).unwrap(), 0);
        assert!(resolve_layer(13, 12).unwrap_err().to_string().contains("-13..=12"));
        assert!(resolve_layer(-14, 12).is_err());
    }

    #[test]
    fn means_run_over_the_rows_given() {
        assert_eq!(mean_rows(&[1.0, 2.0, 3.0, 6.0], 2), [2.0, 4.0]);
    }
}
