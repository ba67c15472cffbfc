//! The epoch loop for the classifiers: shuffled mini-batches, a checkpoint after every epoch
//! (`checkpoints/last.safetensors`, and `best.safetensors` at the lowest validation loss), an
//! exact `--resume`, early stopping, and a clean stop naming the step when the loss goes NaN.
//!
//! Every epoch draws its shuffling and dropout from its own RNG stream (seed, epoch), so a run
//! resumed after `kill -9` produces the same `metrics.jsonl` as one never interrupted.

use super::config::TrainConfig;
use super::featurize::{FeatureSet, Matrix};
use crate::nn::classifier::{Classifier, ModelSpec};
use crate::nn::loss::{cross_entropy, cross_entropy_sum};
use crate::report::run_dir::RunDir;
use crate::train::checkpoint::{self, TensorFile};
use crate::train::clip::{clip_factor, grad_norm};
use crate::train::metrics::argmax_rows;
use crate::train::optim::Optimizer;
use crate::train::progress::EpochProgress;
use crate::train::schedule::ScheduleState;
use crate::train::stop;
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f32,
    /// Mean loss of the training-mode mini-batches during the epoch.
    pub batch_loss: f64,
    /// Loss and accuracy over the whole train split after the epoch, in eval mode (as the article).
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
}

/// The result of a training run.
pub struct Outcome {
    /// The model at the lowest validation loss.
    pub best: Classifier,
    pub best_epoch: usize,
    pub history: Vec<EpochRecord>,
    /// Why training ended before `epochs`, if it did.
    pub stopped_early: Option<String>,
    /// Seconds per epoch in this process (not in metrics.jsonl, which must be reproducible).
    pub epoch_seconds: Vec<f64>,
}

/// The RNG for one epoch's shuffle and dropout.
pub fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// Loss (mean) and accuracy of `model` on `m`, in eval mode, in chunks to bound memory.
pub fn evaluate(model: &Classifier, m: &Matrix, dim: usize) -> (f64, f64, Vec<u32>) {
    let classes = model.spec.classes;
    let mut loss = 0.0;
    let mut predicted = Vec::with_capacity(m.rows);
    for start in (0..m.rows).step_by(4096) {
        let end = (start + 4096).min(m.rows);
        let logits = model.logits(&m.x[start * dim..end * dim], end - start);
        loss += cross_entropy_sum(&logits, &m.y[start..end], classes);
        predicted.extend(argmax_rows(&logits, classes));
    }
    let correct = predicted.iter().zip(&m.y).filter(|(p, y)| p == y).count();
    (
        loss / m.rows.max(1) as f64,
        correct as f64 / m.rows.max(1) as f64,
        predicted,
    )
}

/// One pass over `train` in shuffled mini-batches. Returns the mean batch loss. A final batch
/// of one example is skipped when the model has BatchNorm (batch statistics need two).
pub fn train_epoch(
    model: &mut Classifier,
    optimizer: &mut Optimizer,
    train: &Matrix,
    cfg: &TrainConfig,
    lr: f32,
    epoch: usize,
    mut on_step: impl FnMut(usize, f32, usize),
) -> Result<f64> {
    let dim = model.spec.input_dim;
    let mut rng = epoch_rng(cfg.seed, epoch);
    let mut order: Vec<usize> = (0..train.rows).collect();
    order.shuffle(&mut rng);
    let needs_pairs = model.spec.uses_batch_norm();
    let (mut x, mut y) = (
        Vec::with_capacity(cfg.batch_size * dim),
        Vec::with_capacity(cfg.batch_size),
    );
    let (mut loss_sum, mut batches) = (0.0, 0usize);
    let crash_step = crash_point(epoch, train.rows.div_ceil(cfg.batch_size));
    for (step, batch) in order.chunks(cfg.batch_size).enumerate() {
        if Some(step) == crash_step {
            std::process::abort();
        }
        if needs_pairs && batch.len() < 2 {
            continue;
        }
        x.clear();
        y.clear();
        for &i in batch {
            x.extend_from_slice(&train.x[i * dim..(i + 1) * dim]);
            y.push(train.y[i]);
        }
        let (logits, tape) = model.forward_train(&x, batch.len(), &mut rng);
        let (loss, dlogits) = cross_entropy(&logits, &y, model.spec.classes);
        if !loss.is_finite() {
            bail!(stop::message(
                &format!("the loss became {loss}"),
                epoch + 1,
                step + 1,
                lr
            ));
        }
        let correct = argmax_rows(&logits, model.spec.classes)
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
        model.backward(&tape, &dlogits);
        let clip = cfg
            .clip
            .map_or(1.0, |max_norm| clip_factor(grad_norm(&model.params), max_norm));
        optimizer.step(&mut model.params, lr, clip);
        loss_sum += loss as f64;
        batches += 1;
        on_step(batch.len(), loss, correct);
    }
    Ok(loss_sum / batches.max(1) as f64)
}

/// Crash-test hook: with `TSUMUGI_CRASH_IN_EPOCH=N`, the process aborts (no destructors, no
/// flushing — what `kill -9` does) halfway through epoch N, so tests can check that `--resume`
/// reproduces an uninterrupted run.
fn crash_point(epoch: usize, steps: usize) -> Option<usize> {
    let n: usize = std::env::var("TSUMUGI_CRASH_IN_EPOCH").ok()?.parse().ok()?;
    (n == epoch + 1).then_some(steps / 2)
}

fn meta(
    epoch: usize,
    schedule: &ScheduleState,
    best_epoch: usize,
    best_loss: f64,
    cfg: &TrainConfig,
    spec: &ModelSpec,
) -> serde_json::Value {
    serde_json::json!({
        "epoch": epoch,
        "schedule": schedule,
        "best_epoch": best_epoch,
        "best_valid_loss": best_loss,
        "seed": cfg.seed,
        "model": spec,
    })
}

/// Builds a model of `spec` with the weights in an already-read checkpoint.
pub fn load_model_from(file: &mut TensorFile, spec: ModelSpec) -> Result<Classifier> {
    let mut model = Classifier::new(spec, 0);
    let source = file.source.clone();
    model.load_tensors(|name| file.f32.remove(name), &source)?;
    Ok(model)
}

/// Loads model weights (and returns the file for further state) from a checkpoint.
pub fn load_model(path: &std::path::Path, spec: ModelSpec) -> Result<(Classifier, TensorFile)> {
    let mut file = TensorFile::read(path)?;
    let model = load_model_from(&mut file, spec)?;
    Ok((model, file))
}

pub fn train(
    cfg: &TrainConfig,
    data: &FeatureSet,
    run: &RunDir,
    resume: bool,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let spec = ModelSpec {
        arch: cfg.arch.clone(),
        input_dim: data.dim,
        classes: data.labels.len(),
    };
    let mut model = Classifier::new(spec.clone(), cfg.seed);
    let mut optimizer = Optimizer::new(cfg.optimizer);
    let mut schedule = cfg.schedule.start(cfg.lr);
    let mut history: Vec<EpochRecord> = Vec::new();
    let (mut best_epoch, mut best_loss) = (0usize, f64::INFINITY);
    let last_path = run.checkpoint("last.safetensors");
    let best_path = run.checkpoint("best.safetensors");
    let mut start = 0;
    if resume {
        let (restored, file) =
            load_model(&last_path, spec.clone()).with_context(|| format!("resuming from {}", last_path.display()))?;
        model = restored;
        checkpoint::restore_optimizer(&file, &model.params, &mut optimizer);
        let m = file.meta.clone().unwrap_or_default();
        start = m["epoch"].as_u64().unwrap_or(0) as usize;
        schedule = serde_json::from_value(m["schedule"].clone()).context("checkpoint schedule state")?;
        best_epoch = m["best_epoch"].as_u64().unwrap_or(0) as usize;
        best_loss = m["best_valid_loss"].as_f64().unwrap_or(f64::INFINITY);
        for value in run.truncate_metrics(start)? {
            history.push(serde_json::from_value(value).context("metrics.jsonl line")?);
        }
        log(&format!("resuming after epoch {start} from {}", last_path.display()));
    } else {
        let _ = std::fs::remove_file(run.path("metrics.jsonl"));
    }
    let mut stopped_early = None;
    let mut epoch_seconds = Vec::new();
    let valid_losses = |h: &[EpochRecord]| h.iter().map(|r| r.valid_loss).collect::<Vec<_>>();
    if start > 0 && cfg.early_stop.should_stop(&valid_losses(&history)) {
        stopped_early = Some(format!("early stopping ({}) had already triggered", cfg.early_stop));
        start = cfg.epochs;
    }
    for epoch in start..cfg.epochs {
        let began = Instant::now();
        let lr = cfg
            .schedule
            .advance(&mut schedule, cfg.lr, epoch, history.last().map(|r| r.valid_loss));
        let mut progress = EpochProgress::new(epoch + 1, cfg.epochs, data.train.rows as u64, "examples");
        let (mut seen, mut hits) = (0usize, 0usize);
        let batch_loss = train_epoch(
            &mut model,
            &mut optimizer,
            &data.train,
            cfg,
            lr,
            epoch,
            |n, loss, correct| {
                seen += n;
                hits += correct;
                if seen % 1024 < n {
                    progress.update(seen as u64, || {
                        let rate = seen as f64 / began.elapsed().as_secs_f64();
                        format!(
                            "{rate:.0} examples/s, loss {loss:.4} acc {:.4}",
                            hits as f64 / seen as f64
                        )
                    });
                }
            },
        )
        .with_context(|| format!("training stopped; {}", stop::survivor(&last_path)))?;
        progress.finish();
        let (train_loss, train_accuracy, _) = evaluate(&model, &data.train, data.dim);
        let (valid_loss, valid_accuracy, _) = evaluate(&model, &data.valid, data.dim);
        if !valid_loss.is_finite() {
            // the epoch's steps all had finite losses: either its last step left non-finite
            // weights, or finite weights overflow on the validation data
            let why = match model
                .params
                .list
                .iter()
                .find(|p| p.value.iter().any(|v| !v.is_finite()))
            {
                Some(p) => format!(
                    "; the last step of the epoch (step {}) left non-finite values in `{}`",
                    data.train.rows.div_ceil(cfg.batch_size),
                    p.name
                ),
                None => String::new(),
            };
            bail!(
                "validation loss became {valid_loss} after epoch {} (lr {}){why}; {}",
                epoch + 1,
                stop::readable(lr),
                stop::survivor(&last_path)
            );
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            lr,
            batch_loss,
            train_loss,
            train_accuracy,
            valid_loss,
            valid_accuracy,
        };
        run.append_metrics(&record)?;
        if valid_loss < best_loss {
            best_loss = valid_loss;
            best_epoch = epoch + 1;
            checkpoint::save(
                &best_path,
                &model.params,
                &optimizer,
                &meta(epoch + 1, &schedule, best_epoch, best_loss, cfg, &spec),
            )?;
        }
        checkpoint::save(
            &last_path,
            &model.params,
            &optimizer,
            &meta(epoch + 1, &schedule, best_epoch, best_loss, cfg, &spec),
        )?;
        let seconds = began.elapsed().as_secs_f64();
        epoch_seconds.push(seconds);
        log(&format!(
            "epoch: {}, loss_train: {train_loss:.4}, accuracy_train: {train_accuracy:.4}, loss_valid: {valid_loss:.4}, accuracy_valid: {valid_accuracy:.4}, {seconds:.4}sec",
            epoch + 1
        ));
        history.push(record);
        if cfg.early_stop.should_stop(&valid_losses(&history)) {
            stopped_early = Some(format!("early stopping after epoch {} ({})", epoch + 1, cfg.early_stop));
            break;
        }
    }
    if history.is_empty() {
        bail!("no epoch was trained");
    }
    let (best, _) = load_model(&best_path, spec)?;
    Ok(Outcome {
        best,
        best_epoch,
        history,
        stopped_early,
        epoch_seconds,
    })
}
