//! `tsumugi finetune train`: the article's LSTM classifier, from scratch or with its embedding
//! and LSTM taken by name from a `finetune pretrain` run, trained with Adam through the shared
//! epoch loop. Test accuracy is read at the best-valid epoch (the article validated on its test
//! set; here valid is a seeded, stratified split of the training pool). ULMFiT's options:
//! discriminative rates (÷ factor per layer group below the head), slanted triangular rates
//! and gradual unfreezing (the head alone in epoch 1, the LSTM joins in epoch 2, the embedding
//! in epoch 3).

use super::batches::{bucketed, in_order};
use super::data::{self, Encoded};
use super::pretrain::PretrainedRun;
use super::steps;
use crate::compute::dispatch::{check as check_device, on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::keras_vocab::KerasVocab;
use crate::models::lstm_classifier::{ClassifierConfig, LstmClassifier, Pool};
use crate::nn::params::Params;
use crate::nn::weights::Part;
use crate::report::plot::loss_and_accuracy;
use crate::report::run_dir::{Existing, RunDir};
use crate::tasks::device_checkpoint;
use crate::train::checkpoint::TensorFile;
use crate::train::early_stop::EarlyStop;
use crate::train::epochs::{self, Crash, Epoch, Experiment, Finished, Plan, Session};
use crate::train::metrics;
use crate::train::progress::EpochProgress;
use crate::train::schedule::{slanted_triangular, Schedule};
use crate::train::stop;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How the rate moves within the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateSchedule {
    Constant,
    /// ULMFiT's slanted triangular rates over all steps (cut fraction 0.1, ratio 32).
    Stlr,
}

/// Every option of a fine-tuning run, as `config.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    pub data: String,
    /// The `finetune pretrain` run whose embedding and LSTM start the classifier.
    pub from: Option<PathBuf>,
    /// Training examples drawn from the pool (all when absent).
    pub train_size: Option<usize>,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub pool: Pool,
    pub input_dropout: f32,
    pub dropout: f32,
    /// The model's and tokenizer's sizes; a pre-trained run's own replace these.
    pub embed: usize,
    pub hidden: usize,
    pub num_words: Option<usize>,
    pub oov: bool,
    pub max_len: usize,
    /// ULMFiT's factor between layer groups' rates.
    pub discriminative: Option<f32>,
    pub schedule: RateSchedule,
    pub gradual_unfreeze: bool,
    pub valid_fraction: f64,
    pub patience: Option<usize>,
    /// Where the classifier trains (runs from before the option: the CPU).
    #[serde(default)]
    pub device: Device,
}

impl FinetuneConfig {
    pub fn check(&self) -> Result<()> {
        if self.max_len == 0 {
            bail!("--max-len 0 leaves no word of any text");
        }
        if self.embed == 0 || self.hidden == 0 || self.batch_size == 0 || self.epochs == 0 {
            bail!("--embed, --hidden, --batch-size and --epochs must be positive");
        }
        for (name, p) in [("--input-dropout", self.input_dropout), ("--dropout", self.dropout)] {
            if !(0.0..1.0).contains(&p) {
                bail!("{name} {p} outside [0, 1)");
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        if let Some(f) = self.discriminative {
            if !(f >= 1.0 && f.is_finite()) {
                bail!("--discriminative {f}: the factor between layer groups must be at least 1");
            }
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            bail!("the valid fraction must be in (0, 1), got {}", self.valid_fraction);
        }
        Ok(())
    }
}

pub struct FinetuneJob {
    /// The options; `None` resumes with the run's own.
    pub config: Option<FinetuneConfig>,
    pub out: PathBuf,
    pub existing: Existing,
}

/// One epoch's line in `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneEpoch {
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    pub test_accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finetuned {
    pub run_dir: PathBuf,
    pub train_size: usize,
    pub best_epoch: usize,
    pub valid_accuracy: f64,
    /// At the best-valid epoch.
    pub test_accuracy: f64,
    pub history: Vec<FinetuneEpoch>,
    pub seconds: f64,
}

/// The layer groups from the head down, for discriminative rates and gradual unfreezing.
const GROUPS: [&str; 3] = ["fc.", "rnn.", "encoder."];

struct Finetuning<'a, B: Backend> {
    be: &'a B,
    model: LstmClassifier<B>,
    host: Params,
    cfg: &'a FinetuneConfig,
    train: &'a Encoded,
    valid: &'a Encoded,
    test: &'a Encoded,
    batches_per_epoch: usize,
}

impl<B: Backend> Finetuning<'_, B> {
    /// The mean loss and the accuracy over `set`, without dropout.
    fn evaluate(&self, set: &Encoded) -> Result<(f64, f64)> {
        let lengths: Vec<usize> = set.ids.iter().map(Vec::len).collect();
        let (mut loss, mut correct) = (0.0, 0usize);
        for batch in in_order(&lengths, self.cfg.batch_size) {
            let texts: Vec<&[u32]> = batch.iter().map(|&i| set.ids[i].as_slice()).collect();
            let labels: Vec<u32> = batch.iter().map(|&i| set.labels[i]).collect();
            let be = self.be;
            let x = self.model.batch(be, &texts, &labels)?;
            let (batch_loss, logits) = self.model.loss(be, &x)?;
            loss += be.read_loss_f32(&batch_loss)? as f64 * batch.len() as f64;
            correct += metrics::correct(&be.download(&logits)?, self.model.cfg.classes, &labels);
        }
        let n = set.ids.len().max(1) as f64;
        Ok((loss / n, correct as f64 / n))
    }

    /// The lr scale of each layer group in `epoch`: discriminative factors, and 0 for the
    /// groups gradual unfreezing still holds.
    fn set_scales(&mut self, epoch: usize) -> Result<()> {
        for (depth, prefix) in GROUPS.iter().enumerate() {
            let mut scale = self.cfg.discriminative.map_or(1.0, |f| f.powi(-(depth as i32)));
            if self.cfg.gradual_unfreeze && depth >= epoch {
                scale = 0.0;
            }
            self.model.params_mut().scale_lr(prefix, scale)?;
        }
        Ok(())
    }
}

impl<B: Backend> Experiment for Finetuning<'_, B> {
    type Record = FinetuneEpoch;

    fn valid_loss(record: &FinetuneEpoch) -> f64 {
        record.valid_loss
    }

    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<FinetuneEpoch>> {
        let cfg = self.cfg;
        self.set_scales(epoch)?;
        let lengths: Vec<usize> = self.train.ids.iter().map(Vec::len).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(epoch as u64);
        let batches = bucketed(&lengths, cfg.batch_size, &mut rng);
        let mut progress = EpochProgress::new(epoch, cfg.epochs, batches.len() as u64, "batches");
        let (mut loss_sum, mut seen, mut correct) = (0.0, 0usize, 0usize);
        let mut step_lr = lr;
        for (step, batch) in batches.iter().enumerate() {
            crash.check(step, batches.len());
            if cfg.schedule == RateSchedule::Stlr {
                let t = (epoch - 1) * self.batches_per_epoch + step;
                step_lr = slanted_triangular(lr, t, cfg.epochs * self.batches_per_epoch, 0.1, 32.0);
            }
            let texts: Vec<&[u32]> = batch.iter().map(|&i| self.train.ids[i].as_slice()).collect();
            let labels: Vec<u32> = batch.iter().map(|&i| self.train.labels[i]).collect();
            let key = (epoch as u64) << 32 | step as u64;
            let (loss, right) =
                steps::classifier_step(self.be, &mut self.model, &texts, &labels, (cfg.seed, key), step_lr)?;
            correct += right;
            if !loss.is_finite() {
                bail!(stop::message(
                    &format!("the loss became {loss}"),
                    epoch,
                    step + 1,
                    step_lr
                ));
            }
            loss_sum += loss * batch.len() as f64;
            seen += batch.len();
            progress.update(step as u64 + 1, || format!("loss {:.4}", loss_sum / seen as f64));
        }
        progress.finish();
        // as Keras reports it: over the epoch's batches, with dropout
        let train_accuracy = correct as f64 / seen.max(1) as f64;
        let (valid_loss, valid_accuracy) = self.evaluate(self.valid)?;
        let (_, test_accuracy) = self.evaluate(self.test)?;
        Ok(Epoch {
            record: FinetuneEpoch {
                epoch,
                lr,
                train_loss: loss_sum / seen.max(1) as f64,
                train_accuracy,
                valid_loss,
                valid_accuracy,
                test_accuracy,
            },
            valid_loss,
        })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        device_checkpoint::save(self.be, path, self.model.params(), &mut self.host, &meta)
    }

    fn restore(&mut self, file: TensorFile) -> Result<()> {
        let (state, taken) = device_checkpoint::restore(file, &mut self.host)?;
        self.model = LstmClassifier::new(self.be, self.model.cfg.clone(), &self.host)?;
        self.model.params_mut().restore_optimizer(self.be, &state, taken)
    }

    fn describe(&self, r: &FinetuneEpoch, seconds: f64) -> String {
        format!(
            "epoch {}: train loss {:.4}, accuracy {:.4}; valid loss {:.4}, accuracy {:.4}; test accuracy {:.4}; {seconds:.1} s",
            r.epoch, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy, r.test_accuracy
        )
    }
}

/// The run's options with a pre-trained run's sizes laid over them, and its vocabulary (or
/// one fitted on the pool).
fn resolve(
    cfg: &FinetuneConfig,
    from: Option<&PretrainedRun>,
    pool: &[data::Text],
) -> Result<(FinetuneConfig, KerasVocab)> {
    let mut cfg = cfg.clone();
    match from {
        Some(f) => {
            f.check_data(&cfg.data)?;
            cfg.embed = f.config.embed;
            cfg.hidden = f.config.hidden;
            cfg.num_words = f.config.num_words;
            cfg.oov = f.config.oov;
            cfg.max_len = f.config.max_len;
            Ok((cfg, f.vocab.clone()))
        }
        None => {
            let vocab = KerasVocab::fit(pool.iter().map(|t| t.example.text.as_str()), cfg.num_words, cfg.oov)?;
            Ok((cfg, vocab))
        }
    }
}

pub fn run(job: &FinetuneJob, log: &mut dyn FnMut(&str)) -> Result<Finetuned> {
    let began = Instant::now();
    if let Some(cfg) = &job.config {
        cfg.check()?;
    }
    let (typed, saved) = epochs::run_options(job.config.as_ref(), &job.out, job.existing)?;
    let from = typed.from.as_deref().map(PretrainedRun::open).transpose()?;
    let task = data::load(&typed.data)?;
    let (cfg, vocab) = resolve(&typed, from.as_ref(), &task.pool)?;
    let resume = epochs::resume_point(&job.out, saved.as_ref(), &cfg)?;
    let (train, valid) = data::cut(&task.pool, cfg.valid_fraction, cfg.train_size, cfg.seed)?;
    let encode = |texts: &[data::Text]| data::encode(texts, &vocab, &task.labels, cfg.max_len);
    let (train, valid, test) = (encode(&train)?, encode(&valid)?, encode(&task.test)?);
    for (name, set) in [("train", &train), ("valid", &valid), ("test", &test)] {
        if set.ids.is_empty() {
            bail!("no {name} text has a word the vocabulary keeps");
        }
        if let Some(first) = set.dropped.first() {
            log(&format!(
                "warning: {} {name} text(s) have no word the vocabulary keeps and are left out (first: {first})",
                set.dropped.len()
            ));
        }
    }
    let model_cfg = ClassifierConfig {
        vocab: vocab.size(),
        embed: cfg.embed,
        hidden: cfg.hidden,
        classes: task.labels.len(),
        pool: cfg.pool,
        input_dropout: cfg.input_dropout,
        dropout: cfg.dropout,
    };
    let mut host = model_cfg.init(cfg.seed)?;
    if let Some(f) = &from {
        let mut file = TensorFile::read(&f.best)?;
        file.weights()
            .load_into(&mut host, &Part::Prefixes(vec!["encoder.".into(), "rnn.".into()]))
            .with_context(|| format!("taking the embedding and LSTM from {}", f.best.display()))?;
    }
    check_device(cfg.device)?;
    let run = RunDir::create(&job.out, job.existing)?;
    if resume.is_none() {
        run.write_json("config.json", &cfg)?;
        run.write_json("vocab.json", &vocab)?;
        run.write_json("labels.json", &task.labels)?;
    }
    log(&format!(
        "{} train / {} valid / {} test texts ({}), vocabulary {}, {}",
        train.ids.len(),
        valid.ids.len(),
        test.ids.len(),
        task.test_origin,
        vocab.size(),
        match &cfg.from {
            Some(p) => format!("embedding and LSTM from {}", p.display()),
            None => "from scratch".to_string(),
        }
    ));
    let plan = Plan {
        epochs: cfg.epochs,
        lr: cfg.lr,
        schedule: Schedule::Constant,
        early_stop: EarlyStop::after(cfg.patience),
        meta: serde_json::json!({ "model": model_cfg }),
    };
    let finished = on_device(
        cfg.device,
        TrainOn {
            model_cfg,
            host,
            cfg: &cfg,
            sets: (&train, &valid, &test),
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
        .context("the best epoch is missing from metrics.jsonl")?;
    let result = Finetuned {
        run_dir: run.root.clone(),
        train_size: train.ids.len(),
        best_epoch: finished.best_epoch,
        valid_accuracy: best.valid_accuracy,
        test_accuracy: best.test_accuracy,
        history: finished.history.clone(),
        seconds: began.elapsed().as_secs_f64(),
    };
    curves(&run, &finished.history, finished.best_epoch)?;
    let report = format!(
        "# finetune train\n\n- data: `{}` (test: {})\n- {}\n- train {} / valid {} / test {} texts\n- best epoch {} of {} by valid loss{}\n- valid accuracy {:.4}, **test accuracy {:.4}** at that epoch\n",
        cfg.data,
        task.test_origin,
        match &cfg.from {
            Some(p) => format!("embedding and LSTM pre-trained in `{}`", p.display()),
            None => "trained from scratch".to_string(),
        },
        train.ids.len(),
        valid.ids.len(),
        test.ids.len(),
        finished.best_epoch,
        finished.history.len(),
        finished.stopped_early.as_deref().map_or(String::new(), |s| format!(" ({s})")),
        result.valid_accuracy,
        result.test_accuracy,
    );
    crate::atomic::write_atomic(&run.path("report.md"), report.as_bytes())?;
    Ok(result)
}

/// The epochs of one run on a backend.
struct TrainOn<'a> {
    model_cfg: ClassifierConfig,
    host: Params,
    cfg: &'a FinetuneConfig,
    /// Train, valid and test.
    sets: (&'a Encoded, &'a Encoded, &'a Encoded),
    session: Session<'a>,
}

impl OnBackend for TrainOn<'_> {
    type Output = Finished<FinetuneEpoch>;

    fn run<B: Backend>(self, be: &B) -> Result<Finished<FinetuneEpoch>> {
        let (train, valid, test) = self.sets;
        let mut exp = Finetuning {
            be,
            model: LstmClassifier::new(be, self.model_cfg, &self.host)?,
            host: self.host,
            cfg: self.cfg,
            train,
            valid,
            test,
            batches_per_epoch: train.ids.len().div_ceil(self.cfg.batch_size),
        };
        self.session.train(&mut exp)
    }
}

fn curves(run: &RunDir, history: &[FinetuneEpoch], best_epoch: usize) -> Result<()> {
    loss_and_accuracy(
        &run.path("curves"),
        history,
        |r| r.epoch,
        best_epoch,
        &[("train", |r| r.train_loss), ("valid", |r| r.valid_loss)],
        &[
            ("train", |r| r.train_accuracy),
            ("valid", |r| r.valid_accuracy),
            ("test", |r| r.test_accuracy),
        ],
    )
}
