//! `tsumugi finetune pretrain`: the article's language model pre-trained on the task's own
//! texts (labels unused): embedding → dropout → LSTM → dropout → a softmax over the
//! vocabulary, untied; input `x[:-1]`, target `x[1:]`, cross-entropy over real tokens only,
//! Adam. It runs through the backend LM ([`crate::models::lm::LstmLm`], one layer) and the
//! shared epoch loop, keeping the best epoch by valid perplexity; its `encoder.*` and `rnn.*`
//! weights start the classifier of `finetune train --from`.
//!
//! ULMFiT's three stages: `--corpus` pre-trains on general-domain text (PTB, or any text file)
//! with the task's vocabulary, a second run `--from` it continues on the task's own texts, and
//! `finetune train --from` that one trains the classifier.

use super::batches::{bucketed, in_order};
use super::data::{self, Text};
use super::steps;
use crate::compute::dispatch::{check as check_device, on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::keras_vocab::KerasVocab;
use crate::data::labeled::Example;
use crate::data::split;
use crate::models::lm::LstmLm;
use crate::models::lm_weights::{LanguageModel, LmConfig};
use crate::nn::weights::Part;
use crate::report::run_dir::{Existing, RunDir};
use crate::tasks::device_checkpoint;
use crate::train::checkpoint::TensorFile;
use crate::train::early_stop::EarlyStop;
use crate::train::epochs::{same_options, Crash, Epoch, Experiment, Finished, Plan, ResumePoint, Session};
use crate::train::progress::EpochProgress;
use crate::train::schedule::Schedule;
use crate::train::stop;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Every option of a pre-training run, as `config.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub data: String,
    /// Keras's `num_words` (ids below it are kept).
    pub num_words: Option<usize>,
    pub oov: bool,
    pub max_len: usize,
    pub embed: usize,
    pub hidden: usize,
    pub dropout: f32,
    pub batch_size: usize,
    pub lr: f32,
    pub epochs: usize,
    /// Stop after this many epochs without a better valid perplexity.
    pub patience: Option<usize>,
    /// The share of the texts held out for valid perplexity.
    pub valid_fraction: f64,
    pub seed: u64,
    /// General-domain text the model learns from instead of the task's texts: `ptb`, a text file
    /// or a folder of `.txt` files, one text per line. The vocabulary is still the task's
    /// (`data`), so a run `--from` this one can continue on the task's texts.
    #[serde(default)]
    pub corpus: Option<String>,
    /// A pre-training run whose weights start this one (its vocabulary and sizes with them).
    #[serde(default)]
    pub from: Option<PathBuf>,
    /// Where the model trains (runs from before the option: the CPU).
    #[serde(default)]
    pub device: Device,
}

impl PretrainConfig {
    pub fn check(&self) -> Result<()> {
        if self.max_len < 2 {
            bail!("--max-len {} leaves no next word to predict (at least 2)", self.max_len);
        }
        if self.embed == 0 || self.hidden == 0 || self.batch_size == 0 || self.epochs == 0 {
            bail!("--embed, --hidden, --batch-size and --epochs must be positive");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout {} outside [0, 1)", self.dropout);
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            bail!("the valid fraction must be in (0, 1), got {}", self.valid_fraction);
        }
        Ok(())
    }

    /// These options with the vocabulary options and sizes of `from`, the run they continue;
    /// both must read the same task data, whose vocabulary they share.
    pub fn continuing(&self, from: &PretrainedRun) -> Result<Self> {
        from.check_data(&self.data)?;
        Ok(Self {
            num_words: from.config.num_words,
            oov: from.config.oov,
            max_len: from.config.max_len,
            embed: from.config.embed,
            hidden: from.config.hidden,
            ..self.clone()
        })
    }

    pub fn model(&self, vocab: usize) -> LmConfig {
        LmConfig {
            vocab,
            embed: self.embed,
            hidden: self.hidden,
            layers: 1,
            dropout: self.dropout,
            tied: false,
            locked_dropout: false,
            embedding_dropout: 0.0,
        }
    }
}

pub struct PretrainJob {
    /// The options; `None` resumes with the run's own.
    pub config: Option<PretrainConfig>,
    pub out: PathBuf,
    pub existing: Existing,
}

/// A finished `finetune pretrain` run, as `--from` reads it: its options, vocabulary and best
/// weights.
pub struct PretrainedRun {
    pub dir: PathBuf,
    pub config: PretrainConfig,
    pub vocab: KerasVocab,
    pub best: PathBuf,
}

impl PretrainedRun {
    pub fn open(dir: &Path) -> Result<Self> {
        if dir.join("corpus.json").exists() {
            bail!(
                "{}: an `lm train` run; --from takes a `finetune pretrain` run, whose vocabulary is the task's",
                dir.display()
            );
        }
        let config: PretrainConfig = crate::data::json::read_json(&dir.join("config.json"))
            .with_context(|| format!("{}: not a `finetune pretrain` run", dir.display()))?;
        let vocab: KerasVocab = crate::data::json::read_json(&dir.join("vocab.json"))?;
        let best = dir.join("checkpoints").join("best.safetensors");
        if !best.exists() {
            bail!("{}: the pre-training run has no finished epoch", best.display());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            vocab,
            best,
        })
    }

    /// A run that starts from this one must read the same data: the vocabulary is that data's.
    pub fn check_data(&self, data: &str) -> Result<()> {
        if self.config.data != data {
            bail!(
                "{}: pre-trained on `{}`, not on `{data}`: its vocabulary is that of `{}`",
                self.dir.display(),
                self.config.data,
                self.config.data
            );
        }
        Ok(())
    }
}

/// The lines of a general-domain corpus as texts (labelled with `label`, which the language
/// model never reads): `ptb` (its train and valid splits), a text file, or every `.txt` file of
/// a folder in name order.
fn corpus_texts(corpus: &str, label: &str) -> Result<Vec<Text>> {
    let path = Path::new(corpus);
    let files: Vec<PathBuf> = if corpus == "ptb" {
        let dir = crate::tasks::datasets::ensure("ptb")?;
        vec![dir.join("ptb.train.txt"), dir.join("ptb.valid.txt")]
    } else if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("--corpus {}: no .txt file in the folder", path.display());
        }
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        bail!("--corpus {corpus}: not `ptb`, a text file or a folder of .txt files");
    };
    let mut texts = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        for item in crate::data::lines::text_lines(&bytes, &file) {
            let (line, text) = item?;
            texts.push(Text {
                example: Example {
                    label: label.to_string(),
                    text: text.to_string(),
                    line,
                },
                file: file.clone(),
            });
        }
    }
    Ok(texts)
}

/// One epoch's line in `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainEpoch {
    pub epoch: usize,
    pub lr: f32,
    pub train_perplexity: f64,
    pub valid_perplexity: f64,
}

#[derive(Debug, Serialize)]
pub struct Pretrained {
    pub run_dir: PathBuf,
    pub best_epoch: usize,
    pub valid_perplexity: f64,
    pub vocabulary: usize,
    pub train_texts: usize,
    pub seconds: f64,
}

/// The texts a language model learns from: every text of the pool as ids, those with at least
/// two words (one next word to predict).
fn lm_texts(pool: &[Text], vocab: &KerasVocab, labels: &[String], max_len: usize) -> Result<Vec<Vec<u32>>> {
    let encoded = data::encode(pool, vocab, labels, max_len)?;
    Ok(encoded.ids.into_iter().filter(|ids| ids.len() >= 2).collect())
}

struct Pretraining<'a, B: Backend> {
    be: &'a B,
    model: LstmLm<B>,
    host: LanguageModel,
    cfg: &'a PretrainConfig,
    train: &'a [Vec<u32>],
    valid: &'a [Vec<u32>],
    tokens_per_second: f64,
}

impl<B: Backend> Pretraining<'_, B> {
    /// The mean loss per real target over `texts`, without dropout.
    fn mean_loss(&self, texts: &[Vec<u32>]) -> Result<f64> {
        let lengths: Vec<usize> = texts.iter().map(Vec::len).collect();
        let (mut sum, mut count) = (0.0, 0usize);
        for batch in in_order(&lengths, self.cfg.batch_size) {
            let rows: Vec<&[u32]> = batch.iter().map(|&i| texts[i].as_slice()).collect();
            let (loss, n) = steps::lm_loss(self.be, &self.model, &rows)?;
            sum += loss * n as f64;
            count += n;
        }
        Ok(sum / count.max(1) as f64)
    }
}

impl<B: Backend> Experiment for Pretraining<'_, B> {
    type Record = PretrainEpoch;

    fn valid_loss(record: &PretrainEpoch) -> f64 {
        record.valid_perplexity.ln()
    }

    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<PretrainEpoch>> {
        let cfg = self.cfg;
        let lengths: Vec<usize> = self.train.iter().map(Vec::len).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(epoch as u64);
        let batches = bucketed(&lengths, cfg.batch_size, &mut rng);
        let began = Instant::now();
        let mut progress = EpochProgress::new(epoch, cfg.epochs, batches.len() as u64, "batches");
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (step, batch) in batches.iter().enumerate() {
            crash.check(step, batches.len());
            let rows: Vec<&[u32]> = batch.iter().map(|&i| self.train[i].as_slice()).collect();
            let key = (epoch as u64) << 32 | step as u64;
            let (loss, n) = steps::lm_step(self.be, &mut self.model, &rows, (cfg.seed, key), lr)?;
            if !loss.is_finite() {
                bail!(stop::message(&format!("the loss became {loss}"), epoch, step + 1, lr));
            }
            loss_sum += loss * n as f64;
            seen += n;
            progress.update(step as u64 + 1, || {
                let rate = seen as f64 / began.elapsed().as_secs_f64();
                format!("ppl {:.1}, {rate:.0} tokens/s", (loss_sum / seen as f64).exp())
            });
        }
        progress.finish();
        self.tokens_per_second = seen as f64 / began.elapsed().as_secs_f64();
        let valid_loss = self.mean_loss(self.valid)?;
        Ok(Epoch {
            record: PretrainEpoch {
                epoch,
                lr,
                train_perplexity: (loss_sum / seen.max(1) as f64).exp(),
                valid_perplexity: valid_loss.exp(),
            },
            valid_loss,
        })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        device_checkpoint::save(self.be, path, self.model.params(), &mut self.host.params, &meta)
    }

    fn restore(&mut self, file: TensorFile) -> Result<()> {
        let (state, taken) = device_checkpoint::restore(file, &mut self.host.params)?;
        self.model = LstmLm::new(self.be, &self.host)?;
        self.model.params_mut().restore_optimizer(self.be, &state, taken)
    }

    fn describe(&self, r: &PretrainEpoch, seconds: f64) -> String {
        format!(
            "epoch {}: train perplexity {:.2}, valid perplexity {:.2}, {seconds:.0} s ({:.0} tokens/s)",
            r.epoch, r.train_perplexity, r.valid_perplexity, self.tokens_per_second
        )
    }
}

pub fn run(job: &PretrainJob, log: &mut dyn FnMut(&str)) -> Result<Pretrained> {
    let began = Instant::now();
    if let Some(cfg) = &job.config {
        cfg.check()?;
    }
    RunDir::check(&job.out, job.existing)?;
    // the options typed, with the sizes of the run they continue
    let typed = match &job.config {
        Some(cfg) => Some(match &cfg.from {
            Some(dir) => cfg.continuing(&PretrainedRun::open(dir)?)?,
            None => cfg.clone(),
        }),
        None => None,
    };
    let (cfg, resume) = match job.existing {
        Existing::Resume => {
            let saved: PretrainConfig = crate::data::json::read_json(&job.out.join("config.json"))?;
            if let Some(cfg) = &typed {
                same_options(&job.out, &saved, cfg, "")?;
            }
            let last = job.out.join("checkpoints").join("last.safetensors");
            (saved, Some(ResumePoint::read(&last)?))
        }
        _ => (typed.context("a new run needs its options")?, None),
    };
    let cfg = &cfg;
    let from = cfg.from.as_deref().map(PretrainedRun::open).transpose()?;
    let task = data::load(&cfg.data)?;
    let vocab = match &from {
        Some(f) => f.vocab.clone(),
        None => KerasVocab::fit(
            task.pool.iter().map(|t| t.example.text.as_str()),
            cfg.num_words,
            cfg.oov,
        )?,
    };
    let corpus = cfg
        .corpus
        .as_deref()
        .map(|c| corpus_texts(c, &task.labels[0]))
        .transpose()?;
    let source = corpus.as_deref().unwrap_or(&task.pool);
    let texts = lm_texts(source, &vocab, &task.labels, cfg.max_len)?;
    // one class: a seeded shuffle cut at the fraction
    let one_class = vec![0u8; texts.len()];
    let (valid_idx, train_idx) = split::stratified(&one_class, cfg.valid_fraction, cfg.seed);
    let pick = |idx: &[usize]| idx.iter().map(|&i| texts[i].clone()).collect::<Vec<_>>();
    let (train, valid) = (pick(&train_idx), pick(&valid_idx));
    if train.is_empty() || valid.is_empty() {
        bail!(
            "{}: {} texts of two or more words leave nothing to train or validate the language model on",
            cfg.data,
            texts.len()
        );
    }
    let mut host = LanguageModel::new(cfg.model(vocab.size()), cfg.seed)?;
    if let Some(f) = &from {
        let part = Part::Prefixes(["encoder.", "rnn.", "decoder."].map(String::from).to_vec());
        TensorFile::read(&f.best)?
            .weights()
            .load_into(&mut host.params, &part)
            .with_context(|| format!("starting from {}", f.best.display()))?;
    }
    check_device(cfg.device)?;
    let run = RunDir::create(&job.out, job.existing)?;
    if resume.is_none() {
        run.write_json("config.json", cfg)?;
        run.write_json("vocab.json", &vocab)?;
    }
    log(&format!(
        "pre-training on {} texts of {} ({} held out), vocabulary {} (of {}); model: {}{}",
        train.len(),
        cfg.corpus.as_deref().unwrap_or(&cfg.data),
        valid.len(),
        vocab.size(),
        cfg.data,
        host.cfg,
        from.as_ref()
            .map_or(String::new(), |f| format!(", starting from {}", f.dir.display()))
    ));
    let plan = Plan {
        epochs: cfg.epochs,
        lr: cfg.lr,
        schedule: Schedule::Constant,
        early_stop: EarlyStop::after(cfg.patience),
        meta: serde_json::json!({ "model": host.cfg }),
    };
    let finished = on_device(
        cfg.device,
        PretrainOn {
            host,
            cfg,
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
    Ok(Pretrained {
        run_dir: run.root.clone(),
        best_epoch: finished.best_epoch,
        valid_perplexity: finished.best_valid_loss.exp(),
        vocabulary: vocab.size(),
        train_texts: train.len(),
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// The epochs of one pre-training run on a backend.
struct PretrainOn<'a> {
    host: LanguageModel,
    cfg: &'a PretrainConfig,
    train: &'a [Vec<u32>],
    valid: &'a [Vec<u32>],
    session: Session<'a>,
}

impl OnBackend for PretrainOn<'_> {
    type Output = Finished<PretrainEpoch>;

    fn run<B: Backend>(self, be: &B) -> Result<Finished<PretrainEpoch>> {
        let mut exp = Pretraining {
            be,
            model: LstmLm::new(be, &self.host)?,
            host: self.host,
            cfg: self.cfg,
            train: self.train,
            valid: self.valid,
            tokens_per_second: 0.0,
        };
        self.session.train(&mut exp)
    }
}
