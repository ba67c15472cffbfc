//! `tsumugi lm train`: corpus → batchified streams → LSTM LM → SGD with truncated BPTT and
//! gradient clipping → perplexity per epoch, the best model by validation perplexity, test
//! perplexity, a figure and `report.md`. Its epoch runs in the shared loop (`train::epochs`).

use super::config::{CorpusSource, LmRunConfig, LmTrainJob};
use super::engine::{self, Engine};
use super::report::{write_report, Corpus, LmEpoch, LmSummary};
use super::saved::{load_weights, model_from, SavedRun};
use crate::compute::Device;
use crate::data::corpus::{batchify, read_train, read_with, Vocab};
use crate::models::lm_weights::LanguageModel;
use crate::report::run_dir::{self, Existing, RunDir};
use crate::train::checkpoint::TensorFile;
use crate::train::early_stop::EarlyStop;
use crate::train::epochs::{self, same_options, Crash, Epoch, Experiment, Plan, ResumePoint};
use crate::train::progress::EpochProgress;
use crate::train::stop;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// train / valid / test files behind the job's corpus.
fn corpus_files(corpus: &CorpusSource) -> Result<[PathBuf; 3]> {
    let name = match corpus {
        CorpusSource::Files { train, valid, test } => return Ok([train.clone(), valid.clone(), test.clone()]),
        CorpusSource::Named(name) => name,
    };
    let dir = if Path::new(name).is_dir() {
        PathBuf::from(name)
    } else if name == "ptb" {
        crate::tasks::datasets::ensure("ptb")?
    } else {
        bail!("--corpus `{name}` is neither `ptb` nor a directory");
    };
    let find = |split: &str| {
        [format!("ptb.{split}.txt"), format!("{split}.txt")]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| anyhow::anyhow!("{}: no ptb.{split}.txt or {split}.txt", dir.display()))
    };
    Ok([find("train")?, find("valid")?, find("test")?])
}

/// Checks that the run in `dir` was trained on this vocabulary with these options, and reads
/// where it stopped.
fn resume_point(saved: &SavedRun, cfg: &LmRunConfig, words: &[String], last: &Path) -> Result<ResumePoint> {
    if saved.vocab.words != words {
        bail!(
            "{}: the run's vocabulary ({} words) differs from this corpus's ({} words); resume with the corpus it was trained on",
            saved.dir.join("vocab.json").display(),
            saved.vocab.words.len(),
            words.len()
        );
    }
    same_options(&saved.dir, &saved.config, cfg, "")?;
    ResumePoint::read(last)
}

/// A language model being trained: what the shared epoch loop calls.
struct Training<'a> {
    engine: Box<dyn Engine>,
    cfg: &'a LmRunConfig,
    /// The training stream `[rows, batch]` and its rows.
    train: (&'a [u32], usize),
    valid: (&'a [u32], usize),
    /// The last epoch's training speed, for its log line.
    tokens_per_second: f64,
}

impl Experiment for Training<'_> {
    type Record = LmEpoch;

    fn valid_loss(record: &LmEpoch) -> f64 {
        record.valid_perplexity.ln()
    }

    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<LmEpoch>> {
        let cfg = self.cfg;
        let (train, train_rows) = self.train;
        let batches = (train_rows - 1).div_ceil(cfg.bptt);
        let steps = cfg.max_batches.unwrap_or(batches).min(batches);
        let began = Instant::now();
        self.engine.start_epoch(epoch)?;
        let mut progress = EpochProgress::new(epoch, cfg.epochs, steps as u64, "batches");
        let (mut loss_sum, mut tokens_seen) = (0.0, 0usize);
        let mut i = 0;
        for step in 0..steps {
            crash.check(step, steps);
            let seq = cfg.bptt.min(train_rows - 1 - i);
            let tokens = &train[i * cfg.batch_size..(i + seq) * cfg.batch_size];
            let targets = &train[(i + 1) * cfg.batch_size..(i + 1 + seq) * cfg.batch_size];
            let loss = self.engine.step(tokens, targets, seq, lr, cfg.clip)?;
            if !loss.is_finite() {
                bail!(stop::message(&format!("the loss became {loss}"), epoch, step + 1, lr));
            }
            loss_sum += loss * (seq * cfg.batch_size) as f64;
            tokens_seen += seq * cfg.batch_size;
            i += seq;
            progress.update(step as u64 + 1, || {
                let rate = tokens_seen as f64 / began.elapsed().as_secs_f64();
                format!("ppl {:.1}, {rate:.0} tokens/s", (loss_sum / tokens_seen as f64).exp())
            });
        }
        progress.finish();
        self.tokens_per_second = tokens_seen as f64 / began.elapsed().as_secs_f64();
        let (valid, valid_rows) = self.valid;
        let valid_loss = self
            .engine
            .mean_loss(valid, valid_rows, cfg.eval_batch_size, cfg.bptt)?;
        let record = LmEpoch {
            epoch,
            lr,
            train_perplexity: (loss_sum / tokens_seen.max(1) as f64).exp(),
            valid_perplexity: valid_loss.exp(),
        };
        Ok(Epoch { record, valid_loss })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        // SGD keeps no state: the weights are the checkpoint
        self.engine.save(path, meta)
    }

    fn restore(&mut self, mut file: TensorFile) -> Result<()> {
        self.engine.load(model_from(&mut file, self.cfg)?)
    }

    fn describe(&self, r: &LmEpoch, seconds: f64) -> String {
        format!(
            "epoch {}: lr {}, train perplexity {:.2}, valid perplexity {:.2}, {seconds:.0} s (training {:.0} tokens/s)",
            r.epoch, r.lr, r.train_perplexity, r.valid_perplexity, self.tokens_per_second
        )
    }
}

pub fn run(job: &LmTrainJob) -> Result<LmSummary> {
    let began = Instant::now();
    // nothing is written until the options, the corpus and the device are checked; the
    // options first, so a bad value is named before anything about the run directory
    if let Some(cfg) = &job.config {
        cfg.check()?;
    }
    RunDir::check(&job.out, job.existing)?;
    let saved = match job.existing {
        Existing::Resume => Some(SavedRun::open(&job.out)?),
        _ => None,
    };
    let mut cfg = match (&job.config, &saved) {
        (Some(cfg), _) => cfg.clone(),
        (None, Some(saved)) => {
            saved.config.check()?;
            saved.config.clone()
        }
        (None, None) => bail!("a new run needs its options"),
    };
    let [train_path, valid_path, test_path] = corpus_files(&job.corpus)?;
    let mut vocab = Vocab::default();
    let train_ids = read_train(&train_path, &mut vocab)?;
    let valid_ids = read_with(&valid_path, &vocab)?;
    let test_ids = read_with(&test_path, &vocab)?;
    cfg.model.vocab = vocab.len();
    let (train, train_rows) = batchify(&train_ids, cfg.batch_size);
    if train_rows < cfg.bptt + 1 {
        bail!(
            "{}: {} tokens give {train_rows} time steps per column at batch size {}, fewer than --bptt {} + 1",
            train_path.display(),
            train_ids.len(),
            cfg.batch_size,
            cfg.bptt
        );
    }
    let (valid, valid_rows) = batchify(&valid_ids, cfg.eval_batch_size);
    let (test, test_rows) = batchify(&test_ids, cfg.eval_batch_size);
    if valid_rows < 2 || test_rows < 2 {
        bail!("valid and test need at least {} tokens each", 2 * cfg.eval_batch_size);
    }
    // everything that can fail on the inputs or the device happens before the first write:
    // the resume point is read and the engine (the GPU, where asked for) is opened first
    let last_path = job.out.join("checkpoints").join("last.safetensors");
    let resume = match &saved {
        Some(saved) => Some(resume_point(saved, &cfg, &vocab.words, &last_path)?),
        None => None,
    };
    let engine = engine::new(&cfg, LanguageModel::new(cfg.model.clone(), cfg.seed)?)?;
    let run = RunDir::create(&job.out, job.existing)?;
    if resume.is_none() {
        run.write_json("config.json", &cfg)?;
        run.write_json("vocab.json", &vocab.words)?;
        // absolute, so `lm eval` and `--resume` find them from any folder
        run.write_json(
            "corpus.json",
            &[&train_path, &valid_path, &test_path].map(|p| run_dir::absolute(p)),
        )?;
    }
    let mut log = |line: &str| {
        if job.json {
            eprintln!("{line}")
        } else {
            println!("{line}")
        }
    };
    log(&format!(
        "corpus: {} / {} / {} tokens, vocabulary {}; model: {}",
        train_ids.len(),
        valid_ids.len(),
        test_ids.len(),
        vocab.len(),
        cfg.model
    ));
    if cfg.device != Device::Cpu {
        log(&format!("device: {}", engine.device()));
    }
    let mut training = Training {
        engine,
        cfg: &cfg,
        train: (&train, train_rows),
        valid: (&valid, valid_rows),
        tokens_per_second: 0.0,
    };
    let plan = Plan {
        epochs: cfg.epochs,
        lr: cfg.lr,
        schedule: cfg.schedule.into(),
        early_stop: EarlyStop::Never,
        meta: serde_json::json!({ "model": cfg.model }),
    };
    let finished = epochs::train(&mut training, &plan, &run, resume, &mut log)?;
    let (best, _) = load_weights(&finished.best_path, &cfg)?;
    training.engine.load(best)?;
    let test_loss = training
        .engine
        .mean_loss(&test, test_rows, cfg.eval_batch_size, cfg.bptt)?;
    let summary = LmSummary {
        run_dir: run.root.clone(),
        best_epoch: finished.best_epoch,
        valid_perplexity: finished.best_valid_loss.exp(),
        test_perplexity: test_loss.exp(),
        seconds: began.elapsed().as_secs_f64(),
        report: run.path("report.md"),
    };
    write_report(
        &run,
        &summary,
        &cfg,
        &finished.history,
        Corpus {
            train: &train_path,
            train_tokens: train_ids.len(),
            valid: &valid_path,
            test: &test_path,
        },
    )?;
    Ok(summary)
}
