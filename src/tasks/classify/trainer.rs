//! A classifier's epoch for the shared loop (`train::epochs`): shuffled mini-batches, then loss
//! and accuracy over the train and valid splits in eval mode. The loop does the rest
//! (checkpoints, `--resume`, schedules, early stopping, the stop on a NaN).
//!
//! Every epoch draws its shuffling and dropout from its own RNG stream (seed, epoch), so a run
//! resumed after `kill -9` produces the same `metrics.jsonl` as one never interrupted.

use super::config::TrainConfig;
use super::featurize::{FeatureSet, Matrix};
use crate::compute::cpu::Cpu;
use crate::compute::{Backend, SgdStep};
use crate::kernels::norm::clip_factor;
use crate::models::classifier::{Classifier, ModelSpec};
use crate::models::device_params::Adam;
use crate::nn::loss::{cross_entropy, cross_entropy_sum};
use crate::nn::params::Params;
use crate::nn::weights::Part;
use crate::report::run_dir::RunDir;
use crate::tasks::device_checkpoint;
use crate::train::checkpoint::TensorFile;
use crate::train::epochs::{self, Crash, Epoch, Experiment, Finished, Plan, ResumePoint};
use crate::train::metrics::argmax_rows;
use crate::train::optim::OptimizerConfig;
use crate::train::progress::EpochProgress;
use crate::train::stop;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
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

/// The RNG for one epoch's shuffle and dropout.
pub fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// Loss (mean) and accuracy of `model` on `m`, in eval mode, in chunks to bound memory.
pub fn evaluate<B: Backend>(be: &B, model: &mut Classifier<B>, m: &Matrix, dim: usize) -> Result<(f64, f64, Vec<u32>)> {
    let classes = model.spec.classes;
    let mut loss = 0.0;
    let mut predicted = Vec::with_capacity(m.rows);
    for start in (0..m.rows).step_by(4096) {
        let end = (start + 4096).min(m.rows);
        let x = be.upload(&m.x[start * dim..end * dim])?;
        let logits = be.download(&model.logits(be, &x, end - start)?)?;
        loss += cross_entropy_sum(&logits, &m.y[start..end], classes);
        predicted.extend(argmax_rows(&logits, classes));
    }
    let correct = predicted.iter().zip(&m.y).filter(|(p, y)| p == y).count();
    Ok((
        loss / m.rows.max(1) as f64,
        correct as f64 / m.rows.max(1) as f64,
        predicted,
    ))
}

/// One optimizer step of `cfg`'s kind at rate `lr`, with `clip_grad_norm_` when `cfg.clip`
/// (its norm summed on the device, the factor applied as each gradient is read).
fn optimizer_step<B: Backend>(be: &B, model: &mut Classifier<B>, cfg: &TrainConfig, lr: f32) -> Result<()> {
    let params = model.params_mut();
    let grad_scale = match cfg.clip {
        Some(max_norm) => clip_factor(params.grad_sum_of_squares(be)?.sqrt(), max_norm),
        None => 1.0,
    };
    match cfg.optimizer {
        OptimizerConfig::Sgd {
            momentum,
            nesterov,
            weight_decay,
        } => params.torch_sgd_step(
            be,
            SgdStep {
                lr,
                momentum,
                nesterov,
                weight_decay,
                grad_scale,
            },
        ),
        OptimizerConfig::AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
        } => params.adam_step(
            be,
            lr,
            Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            },
            grad_scale,
        ),
    }
}

/// One pass over `train` in shuffled mini-batches, as epoch `epoch` (from 1). Returns the mean
/// batch loss. A final batch of one example is skipped when the model has BatchNorm (batch
/// statistics need two). The loss and its gradient are taken on the host from the logits
/// `[B, L]` (a few values a step), as the slice model did, so the CPU's bits are unchanged.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    train: &Matrix,
    cfg: &TrainConfig,
    lr: f32,
    epoch: usize,
    crash: Option<&Crash>,
    mut on_step: impl FnMut(usize, f32, usize),
) -> Result<f64> {
    let dim = model.spec.input_dim;
    let classes = model.spec.classes;
    let mut rng = epoch_rng(cfg.seed, epoch - 1);
    let mut order: Vec<usize> = (0..train.rows).collect();
    order.shuffle(&mut rng);
    let needs_pairs = model.spec.uses_batch_norm();
    let (mut x, mut y) = (
        Vec::with_capacity(cfg.batch_size * dim),
        Vec::with_capacity(cfg.batch_size),
    );
    let (mut loss_sum, mut batches) = (0.0, 0usize);
    let steps = train.rows.div_ceil(cfg.batch_size);
    for (step, batch) in order.chunks(cfg.batch_size).enumerate() {
        if let Some(crash) = crash {
            crash.check(step, steps);
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
        let (logits, tape) = model.forward_train(be, be.upload(&x)?, batch.len(), &mut rng)?;
        let logits = be.download(&logits)?;
        let (loss, dlogits) = cross_entropy(&logits, &y, classes);
        if !loss.is_finite() {
            bail!(stop::message(&format!("the loss became {loss}"), epoch, step + 1, lr));
        }
        let correct = argmax_rows(&logits, classes)
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
        model.backward(be, tape, &be.upload(&dlogits)?)?;
        optimizer_step(be, model, cfg, lr)?;
        loss_sum += loss as f64;
        batches += 1;
        on_step(batch.len(), loss, correct);
    }
    Ok(loss_sum / batches.max(1) as f64)
}

/// The weights of a model of `spec` from an already-read checkpoint, on the host (its
/// optimizer state stays in `file`); a missing or mis-shaped tensor is an error naming it.
pub fn load_weights_from(file: &mut TensorFile, spec: &ModelSpec) -> Result<Params> {
    let mut host: Params = Classifier::<Cpu>::init(spec, 0);
    file.weights().load_into(&mut host, &Part::All)?;
    Ok(host)
}

/// Loads a model's weights from a checkpoint onto `be`.
pub fn load_model<B: Backend>(be: &B, path: &Path, spec: ModelSpec) -> Result<Classifier<B>> {
    let host = load_weights_from(&mut TensorFile::read(path)?, &spec)?;
    Classifier::upload(be, spec, host)
}

/// A classifier being trained: what the shared epoch loop calls.
struct Training<'a, B: Backend> {
    be: &'a B,
    model: Classifier<B>,
    cfg: &'a TrainConfig,
    data: &'a FeatureSet,
}

impl<B: Backend> Experiment for Training<'_, B> {
    type Record = EpochRecord;

    fn valid_loss(record: &EpochRecord) -> f64 {
        record.valid_loss
    }

    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<EpochRecord>> {
        let (cfg, data) = (self.cfg, self.data);
        let began = Instant::now();
        let mut progress = EpochProgress::new(epoch, cfg.epochs, data.train.rows as u64, "examples");
        let (mut seen, mut hits, mut loss_sum, mut batches) = (0usize, 0usize, 0.0f64, 0usize);
        // about a hundred updates an epoch: every tenth is caught, and a batch-1 epoch does
        // not build a message per example
        let every = data.train.rows.div_ceil(100).max(1);
        let be = self.be;
        let batch_loss = train_epoch(
            be,
            &mut self.model,
            &data.train,
            cfg,
            lr,
            epoch,
            Some(crash),
            |n, loss, correct| {
                seen += n;
                hits += correct;
                loss_sum += loss as f64;
                batches += 1;
                if seen % every < n || seen == data.train.rows {
                    progress.update(seen as u64, || {
                        let rate = seen as f64 / began.elapsed().as_secs_f64();
                        // both running means over the epoch so far
                        format!(
                            "{rate:.0} examples/s, loss {:.4} acc {:.4}",
                            loss_sum / batches as f64,
                            hits as f64 / seen as f64
                        )
                    });
                }
            },
        )?;
        progress.finish();
        let (train_loss, train_accuracy, _) = evaluate(be, &mut self.model, &data.train, data.dim)?;
        let (valid_loss, valid_accuracy, _) = evaluate(be, &mut self.model, &data.valid, data.dim)?;
        let record = EpochRecord {
            epoch,
            lr,
            batch_loss,
            train_loss,
            train_accuracy,
            valid_loss,
            valid_accuracy,
        };
        Ok(Epoch { record, valid_loss })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        let (params, host) = self.model.checkpoint_parts(self.be)?;
        device_checkpoint::save(self.be, path, params, host, &meta)
    }

    fn restore(&mut self, file: TensorFile) -> Result<()> {
        let spec = self.model.spec.clone();
        let mut host = Classifier::<B>::init(&spec, 0);
        let (state, steps) = device_checkpoint::restore(file, &mut host)?;
        self.model = Classifier::upload(self.be, spec, host)?;
        self.model.params_mut().restore_optimizer(self.be, &state, steps)
    }

    /// The epoch's steps all had finite losses: either its last step left non-finite weights
    /// (named), or finite weights overflow on the validation data.
    fn why_not_finite(&mut self) -> Result<String> {
        Ok(match self.model.to_host(self.be)?.first_non_finite() {
            Some(name) => format!(
                "; the last step of the epoch (step {}) left non-finite values in `{name}`",
                self.data.train.rows.div_ceil(self.cfg.batch_size),
            ),
            None => String::new(),
        })
    }

    fn describe(&self, r: &EpochRecord, seconds: f64) -> String {
        format!(
            "epoch: {}, loss_train: {:.4}, accuracy_train: {:.4}, loss_valid: {:.4}, accuracy_valid: {:.4}, {seconds:.4}sec",
            r.epoch, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy
        )
    }
}

/// Trains a classifier of `cfg` on `data` into `run` through the shared epoch loop, from the
/// run's last checkpoint when `resume`: the model at the lowest validation loss, and what the
/// loop recorded.
pub fn train<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    data: &FeatureSet,
    run: &RunDir,
    resume: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(Classifier<B>, Finished<EpochRecord>)> {
    let spec = ModelSpec {
        arch: cfg.arch.clone(),
        input_dim: data.dim,
        classes: data.labels.len(),
    };
    let resume = if resume {
        Some(ResumePoint::read(&run.checkpoint("last.safetensors"))?)
    } else {
        None
    };
    let mut training = Training {
        be,
        model: Classifier::new(be, spec.clone(), cfg.seed)?,
        cfg,
        data,
    };
    let plan = Plan {
        epochs: cfg.epochs,
        lr: cfg.lr,
        schedule: cfg.schedule,
        early_stop: cfg.early_stop,
        meta: serde_json::json!({ "seed": cfg.seed, "model": spec }),
    };
    let finished = epochs::train(&mut training, &plan, run, resume, log)?;
    let best = load_model(be, &finished.best_path, spec)?;
    Ok((best, finished))
}
