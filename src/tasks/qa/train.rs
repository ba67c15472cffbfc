//! `qa train`: a head on `qa features` files, through the shared epoch loop. Per epoch it
//! records loss and accuracy (argmax == label) for train and valid, and beside them the
//! article's metric, `predicted − label < 1`, which counts every prediction at or below the
//! label as right (a model that always answers 0 scores 1.0 by it). The best epoch is the one
//! with the lowest valid loss.
//!
//! A training batch of a single question is left out of its epoch: batch normalisation cannot
//! take statistics of one row (torch refuses it too).

use super::features::FeatureFile;
use crate::compute::dispatch::{check as check_device, on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::models::device_params::Adam;
use crate::models::qa_head::{HeadConfig, HeadKind, QaHead};
use crate::nn::params::Params;
use crate::report::plot::loss_and_accuracy;
use crate::report::run_dir::{Existing, RunDir};
use crate::tasks::device_checkpoint;
use crate::train::checkpoint::TensorFile;
use crate::train::early_stop::EarlyStop;
use crate::train::epochs::{self, Crash, Epoch, Experiment, Finished, Plan, Session};
use crate::train::metrics::{argmax_rows, MeanSd};
use crate::train::progress::EpochProgress;
use crate::train::schedule::Schedule;
use crate::train::stop;
use anyhow::{bail, ensure, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A run's options, as `config.json` keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaTrainConfig {
    pub train: PathBuf,
    pub valid: PathBuf,
    pub head: HeadKind,
    /// Hidden width (mlp, scorer, the cnn's fc1).
    pub width: usize,
    /// cnn: the image each feature vector becomes, and the convolutions' channels.
    pub image: (usize, usize),
    pub channels: (usize, usize),
    pub epochs: usize,
    pub batch_size: usize,
    /// AdamW's rate and weight decay.
    pub lr: f32,
    pub weight_decay: f32,
    /// Draw the batches in a new order each epoch (the article keeps file order).
    pub shuffle: bool,
    pub patience: Option<usize>,
    pub seed: u64,
    /// Where the head trains (runs from before the option: the CPU).
    #[serde(default)]
    pub device: Device,
}

impl QaTrainConfig {
    pub fn check(&self) -> Result<()> {
        ensure!(self.epochs > 0, "--epochs must be at least 1");
        ensure!(
            self.batch_size >= 2,
            "--batch-size must be at least 2 (batch normalisation needs two rows)"
        );
        ensure!(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr must be a positive number, not {}",
            self.lr
        );
        ensure!(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "--weight-decay must be a number ≥ 0, not {}",
            self.weight_decay
        );
        ensure!(self.width > 0, "--width must be at least 1");
        Ok(())
    }
}

/// One `qa train` run: the options (none on `--resume`, which reads them from the run) and
/// where it goes.
#[derive(Debug, Clone)]
pub struct QaTrainJob {
    pub config: Option<QaTrainConfig>,
    pub out: PathBuf,
    pub existing: Existing,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QaEpoch {
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// The article's `predicted − label < 1`.
    pub train_article_metric: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    pub valid_article_metric: f64,
}

/// What a run gives: the best epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct QaTrained {
    pub run_dir: PathBuf,
    pub best_epoch: usize,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    pub valid_article_metric: f64,
    pub epochs_run: usize,
    pub seconds: f64,
}

/// Right answers by argmax, and by the article's test, over logits `[N, options]`.
pub fn scores(logits: &[f32], options: usize, labels: &[u32]) -> (usize, usize) {
    let predicted = argmax_rows(logits, options);
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    let article = predicted.iter().zip(labels).filter(|(p, l)| p <= l).count();
    (right, article)
}

struct Training<'a, B: Backend> {
    be: &'a B,
    head: QaHead<B>,
    host: Params,
    cfg: &'a QaTrainConfig,
    head_cfg: HeadConfig,
    train: &'a FeatureFile,
    valid: &'a FeatureFile,
}

/// The rows `ids` of `set` as one batch: features `[n, C·H]` and labels.
fn batch_of(set: &FeatureFile, ids: &[usize]) -> (Vec<f32>, Vec<u32>) {
    let width = set.choices * set.hidden;
    let mut x = Vec::with_capacity(ids.len() * width);
    for &i in ids {
        x.extend_from_slice(&set.features[i * width..][..width]);
    }
    (x, ids.iter().map(|&i| set.labels[i] as u32).collect())
}

impl<B: Backend> Training<'_, B> {
    /// Mean loss, accuracy and the article's metric over `set`, with running statistics.
    fn evaluate(&mut self, set: &FeatureFile) -> Result<(f64, f64, f64)> {
        let (mut loss, mut right, mut article) = (0.0, 0, 0);
        let all: Vec<usize> = (0..set.questions).collect();
        for ids in all.chunks(self.cfg.batch_size) {
            let be = self.be;
            let (x, labels) = batch_of(set, ids);
            let (l, logits) = self
                .head
                .loss(be, &be.upload(&x)?, &be.upload_ids(&labels)?, ids.len())?;
            loss += be.read_loss_f32(&l)? as f64 * ids.len() as f64;
            let (r, a) = scores(&be.download(&logits)?, self.head_cfg.options, &labels);
            (right, article) = (right + r, article + a);
        }
        let n = set.questions as f64;
        Ok((loss / n, right as f64 / n, article as f64 / n))
    }
}

impl<B: Backend> Experiment for Training<'_, B> {
    type Record = QaEpoch;

    fn valid_loss(r: &QaEpoch) -> f64 {
        r.valid_loss
    }

    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<QaEpoch>> {
        let cfg = self.cfg;
        let mut order: Vec<usize> = (0..self.train.questions).collect();
        if cfg.shuffle {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
            rng.set_stream(epoch as u64);
            order.shuffle(&mut rng);
        }
        let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).filter(|b| b.len() > 1).collect();
        let mut progress = EpochProgress::new(epoch, cfg.epochs, batches.len() as u64, "batches");
        let adam = Adam {
            weight_decay: cfg.weight_decay,
            ..Adam::default()
        };
        let (mut loss_sum, mut seen, mut right, mut article) = (0.0, 0, 0, 0);
        let be = self.be;
        for (step, ids) in batches.iter().enumerate() {
            crash.check(step, batches.len());
            let (x, labels) = batch_of(self.train, ids);
            let (loss, logits) =
                self.head
                    .forward_backward(be, &be.upload(&x)?, &be.upload_ids(&labels)?, ids.len())?;
            let loss = be.read_loss_f32(&loss)? as f64;
            if !loss.is_finite() {
                bail!(stop::message(&format!("the loss became {loss}"), epoch, step + 1, lr));
            }
            self.head.adam_step(be, lr, adam)?;
            let (r, a) = scores(&be.download(&logits)?, self.head_cfg.options, &labels);
            (right, article) = (right + r, article + a);
            loss_sum += loss * ids.len() as f64;
            seen += ids.len();
            progress.update(step as u64 + 1, || format!("loss {:.4}", loss_sum / seen as f64));
        }
        progress.finish();
        let seen_f = seen.max(1) as f64;
        let (valid_loss, valid_accuracy, valid_article_metric) = self.evaluate(self.valid)?;
        Ok(Epoch {
            record: QaEpoch {
                epoch,
                lr,
                train_loss: loss_sum / seen_f,
                train_accuracy: right as f64 / seen_f,
                train_article_metric: article as f64 / seen_f,
                valid_loss,
                valid_accuracy,
                valid_article_metric,
            },
            valid_loss,
        })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        // the batch-norm statistics first: they are buffers, not optimised parameters
        self.head.download_into(self.be, &mut self.host)?;
        device_checkpoint::save(self.be, path, self.head.params(), &mut self.host, &meta)
    }

    fn restore(&mut self, file: TensorFile) -> Result<()> {
        let (state, taken) = device_checkpoint::restore(file, &mut self.host)?;
        self.head = QaHead::upload(self.be, &self.head_cfg, &self.host)?;
        self.head.params_mut().restore_optimizer(self.be, &state, taken)
    }

    fn describe(&self, r: &QaEpoch, seconds: f64) -> String {
        format!(
            "epoch {}: train loss {:.4}, accuracy {:.4}; valid loss {:.4}, accuracy {:.4} (the article's metric {:.4}); {seconds:.1} s",
            r.epoch, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy, r.valid_article_metric
        )
    }
}

/// The head's shape for features like `set`.
pub fn head_config(cfg: &QaTrainConfig, set: &FeatureFile) -> HeadConfig {
    HeadConfig {
        kind: cfg.head,
        choices: set.choices,
        hidden: set.hidden,
        options: set.options,
        width: cfg.width,
        image: cfg.image,
        channels: cfg.channels,
    }
}

pub fn run(job: &QaTrainJob, log: &mut dyn FnMut(&str)) -> Result<QaTrained> {
    let began = Instant::now();
    if let Some(cfg) = &job.config {
        cfg.check()?;
    }
    let (cfg, saved) = epochs::run_options(job.config.as_ref(), &job.out, job.existing)?;
    let resume = epochs::resume_point(&job.out, saved.as_ref(), &cfg)?;
    let train = FeatureFile::read(&cfg.train)?;
    let valid = FeatureFile::read(&cfg.valid)?;
    ensure!(
        (valid.choices, valid.hidden, valid.options) == (train.choices, train.hidden, train.options),
        "{} has features [{}, {}] per question for {} choices, and {} [{}, {}] for {}: make both with the same `qa features` options",
        cfg.train.display(),
        train.choices,
        train.hidden,
        train.options,
        cfg.valid.display(),
        valid.choices,
        valid.hidden,
        valid.options
    );
    ensure!(
        train.questions >= 2,
        "{}: training needs 2 questions or more",
        cfg.train.display()
    );
    let head_cfg = head_config(&cfg, &train);
    // the head's shape is checked before anything is written
    let host = QaHead::<crate::compute::cpu::Cpu>::init(&head_cfg, cfg.seed).context("--head")?;
    check_device(cfg.device)?;
    let run = RunDir::create(&job.out, job.existing)?;
    if resume.is_none() {
        run.write_json("config.json", &cfg)?;
    }
    log(&format!(
        "{} train / {} valid questions, features [{}, {}] per question, {} choices, head {:?}",
        train.questions, valid.questions, train.choices, train.hidden, train.options, cfg.head
    ));
    let plan = Plan {
        epochs: cfg.epochs,
        lr: cfg.lr,
        schedule: Schedule::Constant,
        early_stop: EarlyStop::after(cfg.patience),
        meta: serde_json::json!({ "head": head_cfg, "seed": cfg.seed }),
    };
    let finished = on_device(
        cfg.device,
        TrainOn {
            host,
            cfg: &cfg,
            head_cfg,
            train: &train,
            valid: &valid,
            session: Session {
                plan: &plan,
                run: &run,
                resume,
                log,
            },
        },
    )?;
    let best = finished
        .history
        .iter()
        .find(|r| r.epoch == finished.best_epoch)
        .context("the best epoch is missing from metrics.jsonl")?
        .clone();
    loss_and_accuracy(
        &run.path("curves"),
        &finished.history,
        |r| r.epoch,
        finished.best_epoch,
        &[("train", |r| r.train_loss), ("valid", |r| r.valid_loss)],
        &[
            ("train", |r| r.train_accuracy),
            ("valid", |r| r.valid_accuracy),
            ("valid, article's metric", |r| r.valid_article_metric),
        ],
    )?;
    let report = format!(
        "# qa train\n\n- features: train `{}` ({} questions), valid `{}` ({})\n- head `{:?}`, seed {}\n- best epoch {} of {} by valid loss{}\n\n| at the best epoch | valid |\n|---|---|\n| accuracy (argmax = label) | **{:.4}** |\n| the article's metric (`predicted - label < 1`) | {:.4} |\n\nThe article's metric counts a prediction as right whenever it is at or below the label, so every question whose answer is choice 4 counts, whatever is predicted, and a model that always answers 0 scores 1.0. Accuracy is the figure to compare with other models.\n",
        cfg.train.display(),
        train.questions,
        cfg.valid.display(),
        valid.questions,
        cfg.head,
        cfg.seed,
        finished.best_epoch,
        finished.history.len(),
        finished.stopped_early.as_deref().map_or(String::new(), |s| format!(" ({s})")),
        best.valid_accuracy,
        best.valid_article_metric,
    );
    crate::atomic::write_atomic(&run.path("report.md"), report.as_bytes())?;
    Ok(QaTrained {
        run_dir: run.root.clone(),
        best_epoch: finished.best_epoch,
        valid_loss: best.valid_loss,
        valid_accuracy: best.valid_accuracy,
        valid_article_metric: best.valid_article_metric,
        epochs_run: finished.history.len(),
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// The epochs of one run on a backend.
struct TrainOn<'a> {
    host: Params,
    cfg: &'a QaTrainConfig,
    head_cfg: HeadConfig,
    train: &'a FeatureFile,
    valid: &'a FeatureFile,
    session: Session<'a>,
}

impl OnBackend for TrainOn<'_> {
    type Output = Finished<QaEpoch>;

    fn run<B: Backend>(self, be: &B) -> Result<Finished<QaEpoch>> {
        let head = QaHead::upload(be, &self.head_cfg, &self.host)?;
        let mut exp = Training {
            be,
            head,
            host: self.host,
            cfg: self.cfg,
            head_cfg: self.head_cfg,
            train: self.train,
            valid: self.valid,
        };
        self.session.train(&mut exp)
    }
}

/// Several seeds of one recipe and their spread.
#[derive(Debug, Clone, Serialize)]
pub struct SeedSummary {
    pub runs: Vec<QaTrained>,
    pub valid_accuracy: MeanSd,
    pub valid_article_metric: MeanSd,
}

/// Runs each job (one per seed, each in its own directory) and writes `summary.json` and
/// `report.md` with the mean ± sd into `out`.
pub fn run_seeds(jobs: &[QaTrainJob], out: &Path, log: &mut dyn FnMut(&str)) -> Result<SeedSummary> {
    let mut runs = Vec::new();
    for job in jobs {
        log(&format!("— {} —", job.out.display()));
        runs.push(run(job, log)?);
    }
    let of = |f: fn(&QaTrained) -> f64| MeanSd::of(&runs.iter().map(f).collect::<Vec<_>>());
    let summary = SeedSummary {
        valid_accuracy: of(|r| r.valid_accuracy),
        valid_article_metric: of(|r| r.valid_article_metric),
        runs,
    };
    crate::atomic::write_atomic(&out.join("summary.json"), &serde_json::to_vec_pretty(&summary)?)?;
    let mut report = format!(
        "# qa train, {} seeds

| seed run | best epoch | valid accuracy | the article's metric |
|---|---|---|---|
",
        summary.runs.len()
    );
    for r in &summary.runs {
        report += &format!(
            "| `{}` | {} | {:.4} | {:.4} |
",
            r.run_dir.display(),
            r.best_epoch,
            r.valid_accuracy,
            r.valid_article_metric
        );
    }
    report += &format!(
        "| mean ± sd | | **{:.4} ± {:.4}** | {:.4} ± {:.4} |\n",
        summary.valid_accuracy.mean,
        summary.valid_accuracy.sd,
        summary.valid_article_metric.mean,
        summary.valid_article_metric.sd
    );
    crate::atomic::write_atomic(&out.join("report.md"), report.as_bytes())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::scores;

    #[test]
    fn the_articles_metric_counts_every_prediction_at_or_below_the_label() {
        // argmax: 0, 2, 4, 1 against labels 0, 3, 1, 1
        let logits = [
            9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 9.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(scores(&logits, 5, &[0, 3, 1, 1]), (2, 3));
    }
}
