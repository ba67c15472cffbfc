//! `tsumugi qa …`: multiple-choice QA on LUKE features (the CNN-on-LUKE article), resolved into
//! the library's `qa` jobs.

use super::flags::{DeviceArg, RunFlags};
use super::print_json;
use super::resume::job_config;
use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use tsumugi::data::json::read_json;
use tsumugi::models::qa_head::HeadKind;
use tsumugi::report::run_dir::absolute;
use tsumugi::tasks::qa::eval::{self, EvalJob, Scores};
use tsumugi::tasks::qa::features::{self, Choices, FeaturesJob, Pool};
use tsumugi::tasks::qa::train::{self, QaTrainConfig, QaTrainJob, QaTrained};

#[derive(Subcommand)]
pub enum QaCommand {
    /// Writes one feature vector per question (or per choice) from a LUKE checkpoint's hidden
    /// states: `features` [N, C, H] and `labels` [N] in a safetensors file. The article's
    /// features are `--layer -2 --pool padded-mean --choices first`.
    Features(FeaturesArgs),
    /// Trains a head on feature files; prints valid accuracy (argmax = label) at the best-valid
    /// epoch, beside the article's `predicted - label < 1`.
    Train(Box<TrainArgs>),
    /// Accuracy of a multiple-choice checkpoint on a JCommonsenseQA file; with --head, also of
    /// a trained head and of the two together (the mean of their probabilities).
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Multiple-choice LUKE checkpoint directory (LukeForMultipleChoice).
    #[arg(long)]
    pub model: PathBuf,
    /// JCommonsenseQA JSON lines with labels.
    #[arg(long)]
    pub data: PathBuf,
    /// A `qa train` run: its best checkpoint is evaluated on features made as its training
    /// features were.
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where LUKE runs: cpu, or cuda (a build with the `cuda` feature); the head runs on the
    /// CPU.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeadArg {
    /// The article's CNN on each feature vector as an image (needs --choices first features).
    Cnn,
    /// One linear layer over the features.
    Linear,
    /// Linear, ReLU, linear.
    Mlp,
    /// One small network scoring each choice's features, softmax over the choices (needs
    /// --choices all features).
    Scorer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// The article's recipe: the cnn head, AdamW at lr 0.1, batches of 100 in file order, 100
    /// epochs (its extra log_softmax is the identity under the cross-entropy, so it is left out).
    Article,
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Training features (from `tsumugi qa features`).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Validation features: the best epoch is the one with the lowest loss on them.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// The head.
    #[arg(long, value_enum)]
    pub head: Option<HeadArg>,
    /// A whole recipe; options typed beside it override its settings.
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Questions per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// AdamW's learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// AdamW's weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f32,
    /// Keep the file's order instead of shuffling each epoch (the article's DataLoader).
    #[arg(long)]
    pub no_shuffle: bool,
    /// Stop after this many epochs without a lower validation loss.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Hidden width of the mlp and scorer heads and of the cnn's fc1.
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    /// The cnn's image: each feature vector reshaped to ROWSxCOLS (768 → 24x32).
    #[arg(long, default_value = "24x32", value_parser = parse_image)]
    pub image: (usize, usize),
    /// The cnn's two convolutions' channels.
    #[arg(long, default_value = "32,64", value_parser = parse_channels)]
    pub channels: (usize, usize),
    /// Seed of the weights and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train this many seeds (seed, seed + 1, …), each in --out/seed-S, and report mean ± sd.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Where the head trains: cpu, or cuda (a build with the `cuda` feature).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunFlags,
}

fn pair(s: &str, sep: char, what: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(sep)
        .ok_or_else(|| format!("{what} {s:?} is not A{sep}B"))?;
    let n = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("{what} {s:?}: {t:?} is not a number"))
    };
    Ok((n(a)?, n(b)?))
}

fn parse_image(s: &str) -> Result<(usize, usize), String> {
    pair(s, 'x', "image")
}

fn parse_channels(s: &str) -> Result<(usize, usize), String> {
    pair(s, ',', "channels")
}

/// Which `config.json` fields each option sets, for `--resume` with options typed again.
const TRAIN_SETTINGS: [(&str, &[&str]); 14] = [
    ("train", &["train"]),
    ("valid", &["valid"]),
    ("head", &["head"]),
    ("preset", &["head", "lr", "batch_size", "shuffle", "epochs"]),
    ("epochs", &["epochs"]),
    ("batch_size", &["batch_size"]),
    ("lr", &["lr"]),
    ("weight_decay", &["weight_decay"]),
    ("no_shuffle", &["shuffle"]),
    ("patience", &["patience"]),
    ("width", &["width"]),
    ("image", &["image"]),
    ("channels", &["channels"]),
    ("device", &["device"]),
];

impl TrainArgs {
    fn resolve(&self, seed: u64) -> Result<QaTrainConfig> {
        let article = self.preset == Some(PresetArg::Article);
        let (Some(train), Some(valid)) = (&self.train, &self.valid) else {
            bail!("give --train and --valid feature files (from `tsumugi qa features`)");
        };
        let head = match (self.head, article) {
            (Some(h), _) => h,
            (None, true) => HeadArg::Cnn,
            (None, false) => bail!("give --head (cnn, linear, mlp or scorer) or --preset article"),
        };
        // absolute, so the run (and `qa eval --head`) finds its features from any directory
        Ok(QaTrainConfig {
            train: absolute(train),
            valid: absolute(valid),
            head: match head {
                HeadArg::Cnn => HeadKind::Cnn,
                HeadArg::Linear => HeadKind::Linear,
                HeadArg::Mlp => HeadKind::Mlp,
                HeadArg::Scorer => HeadKind::Scorer,
            },
            width: self.width,
            image: self.image,
            channels: self.channels,
            epochs: self.epochs.unwrap_or(if article { 100 } else { 30 }),
            batch_size: self.batch_size.unwrap_or(if article { 100 } else { 64 }),
            lr: self.lr.unwrap_or(if article { 0.1 } else { 1e-3 }),
            weight_decay: self.weight_decay,
            shuffle: !(self.no_shuffle || article),
            patience: self.patience,
            seed,
            device: self.device.into(),
        })
    }

    fn job(&self, typed: &[String], seed: u64, out: PathBuf) -> Result<QaTrainJob> {
        let config = job_config(
            self.run.resume,
            typed,
            &TRAIN_SETTINGS,
            &out,
            || self.resolve(seed),
            |out| read_json(&out.join("config.json")),
        )?;
        Ok(QaTrainJob {
            config,
            out,
            existing: self.run.existing(),
        })
    }
}

fn print_trained(r: &QaTrained) {
    println!(
        "{}: best epoch {} of {}: valid accuracy {:.4} (the article's metric {:.4}), valid loss {:.4}; {:.1} s",
        r.run_dir.display(),
        r.best_epoch,
        r.epochs_run,
        r.valid_accuracy,
        r.valid_article_metric,
        r.valid_loss,
        r.seconds
    );
}

fn train_command(a: &TrainArgs, typed: &[String]) -> Result<()> {
    let mut log = |line: &str| eprintln!("{line}");
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if a.seeds == 1 {
        let r = train::run(&a.job(typed, a.seed, a.out.clone())?, &mut log)?;
        if a.run.json {
            return print_json(&r);
        }
        print_trained(&r);
        return Ok(());
    }
    let mut jobs = Vec::new();
    for s in 0..a.seeds as u64 {
        let seed = a.seed + s;
        jobs.push(a.job(typed, seed, a.out.join(format!("seed-{seed}")))?);
    }
    let summary = train::run_seeds(&jobs, &a.out, &mut log)?;
    if a.run.json {
        return print_json(&summary);
    }
    for r in &summary.runs {
        print_trained(r);
    }
    println!(
        "{} seeds: valid accuracy {:.4} ± {:.4} (the article's metric {:.4} ± {:.4}); {}",
        summary.runs.len(),
        summary.valid_accuracy.mean,
        summary.valid_accuracy.sd,
        summary.valid_article_metric.mean,
        summary.valid_article_metric.sd,
        a.out.join("summary.json").display()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolArg {
    /// The mean over every position of the question's pairs padded to their longest, padding
    /// included (the article's).
    PaddedMean,
    /// The mean over the pair's real tokens.
    Mean,
    /// The first token's state.
    Cls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChoicesArg {
    /// Choice 0's pair only (the article's): features [N, 1, H].
    First,
    /// Every choice's pair: features [N, C, H], for `--head scorer`.
    All,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// LUKE checkpoint directory as published (any head; a multiple-choice one fine-tuned on
    /// the task, as the article's).
    #[arg(long)]
    pub model: PathBuf,
    /// JCommonsenseQA JSON lines: q_id, question, choice0…choice4, label.
    #[arg(long)]
    pub data: PathBuf,
    /// Which `hidden_states` entry, counted as Python does: 0 = embeddings, -1 = the last
    /// layer, -2 = the one before (the article's).
    #[arg(long, default_value_t = -2, allow_negative_numbers = true)]
    pub layer: i64,
    /// How each pair's token states become one vector.
    #[arg(long, value_enum, default_value_t = PoolArg::PaddedMean)]
    pub pool: PoolArg,
    /// Which choices' pairs give features.
    #[arg(long, value_enum, default_value_t = ChoicesArg::First)]
    pub choices: ChoicesArg,
    /// Questions per forward pass (each brings its five pairs).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists (without it, an existing file is refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where LUKE runs: cpu, or cuda (a build with the `cuda` feature).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

pub fn run(cmd: QaCommand, typed: &[String]) -> Result<()> {
    match cmd {
        QaCommand::Train(a) => train_command(&a, typed),
        QaCommand::Eval(a) => {
            let job = EvalJob {
                model: a.model,
                data: a.data,
                head: a.head,
                device: a.device.into(),
            };
            let e = eval::evaluate(&job, &mut |line| eprintln!("{line}"))?;
            if a.json {
                return print_json(&e);
            }
            let line = |name: &str, s: &Scores| {
                println!(
                    "{name:<9} accuracy {:.4}  (the article's metric {:.4})",
                    s.accuracy, s.article_metric
                )
            };
            println!("{} questions", e.questions);
            line("model", &e.model);
            if let (Some(h), Some(both)) = (&e.head, &e.ensemble) {
                line("head", h);
                line("ensemble", both);
            }
            Ok(())
        }
        QaCommand::Features(a) => {
            let job = FeaturesJob {
                model: a.model,
                data: a.data,
                layer: a.layer,
                pool: match a.pool {
                    PoolArg::PaddedMean => Pool::PaddedMean,
                    PoolArg::Mean => Pool::Mean,
                    PoolArg::Cls => Pool::Cls,
                },
                choices: match a.choices {
                    ChoicesArg::First => Choices::First,
                    ChoicesArg::All => Choices::All,
                },
                out: a.out,
                batch_size: a.batch_size,
                overwrite: a.overwrite,
                device: a.device.into(),
            };
            let s = features::extract(&job)?;
            if a.json {
                return print_json(&s);
            }
            println!(
                "{}: features [{}, {}, {}] from hidden state {} and labels [{}]",
                s.out.display(),
                s.questions,
                s.choices,
                s.hidden,
                s.layer,
                s.questions
            );
            Ok(())
        }
    }
}
