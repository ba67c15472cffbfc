//! The flags of the `classify` commands, resolved into the library's [`TrainConfig`] and
//! [`TrainJob`]: which model, optimizer, schedule and early stopping each flag selects, and the
//! defaults a run starts from.

use super::flags::{DeviceArg, EmptyArg, RunFlags, TokenizerArg};
use super::resume::job_config;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use tsumugi::models::classifier::Arch;
use tsumugi::report::run_dir::{absolute, path_or_name};
use tsumugi::tasks::classify::config::{TrainConfig, TrainJob};
use tsumugi::tasks::classify::source::{self, Splits};
use tsumugi::train::early_stop::EarlyStop;
use tsumugi::train::optim::OptimizerConfig;
use tsumugi::train::schedule::Schedule;

/// Which fields of `config.json` each option sets, for `--resume` with options typed again.
const SETTINGS: &[(&str, &[&str])] = &[
    ("data", &["data"]),
    ("valid", &["valid"]),
    ("test", &["test"]),
    ("vectors", &["vectors"]),
    ("tokenizer", &["tokenizer"]),
    ("empty_policy", &["empty_policy"]),
    ("valid_fraction", &["valid_fraction"]),
    ("seed", &["seed"]),
    ("model", &["arch"]),
    ("hidden", &["arch"]),
    ("no_batch_norm", &["arch"]),
    ("dropout", &["arch"]),
    ("optimizer", &["optimizer"]),
    ("momentum", &["optimizer"]),
    ("nesterov", &["optimizer"]),
    ("weight_decay", &["optimizer"]),
    ("lr", &["lr"]),
    ("schedule", &["schedule"]),
    ("step_size", &["schedule"]),
    ("gamma", &["schedule"]),
    ("eta_min", &["schedule"]),
    ("batch_size", &["batch_size"]),
    ("epochs", &["epochs"]),
    ("early_stop", &["early_stop"]),
    ("patience", &["early_stop"]),
    ("clip", &["clip"]),
    ("device", &["device"]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Single-layer softmax regression, no bias, N(0,1) init (problems 71–78).
    Slp,
    /// Linear → BatchNorm → ReLU (→ Dropout) blocks, then a linear output (problem 79).
    Mlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    Sgd,
    Adamw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    Constant,
    Step,
    Cosine,
    Plateau,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EarlyStopKind {
    Never,
    /// Stop after --patience epochs without a new best validation loss.
    Patience,
    /// The article's rule: validation loss not decreasing for 3 epochs in a row.
    Article,
}

/// Data and feature options shared by the classify commands.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset name (r8, r52, 20ng, rotten-tomatoes), a prepared directory (train.tsv, valid.tsv, test.tsv), or a
    /// `label<TAB>text` file.
    #[arg(long, default_value = "r8")]
    pub data: String,
    /// A `label<TAB>text` validation file (instead of the one --data brings or carves).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// A `label<TAB>text` test file (instead of the one --data brings).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Word vectors: a dataset name (glove-100d) or a file (.bin word2vec binary, .json wink,
    /// anything else word2vec/GloVe/fastText text).
    #[arg(long, default_value = "glove-100d")]
    pub vectors: String,
    /// How headlines are split into words.
    #[arg(long, value_enum, default_value_t = TokenizerArg::Words)]
    pub tokenizer: TokenizerArg,
    /// Texts with no known word: zero vector (counted in the report) or an error.
    #[arg(long = "empty", value_enum, default_value_t = EmptyArg::Zero)]
    pub empty_policy: EmptyArg,
    /// Share of train held out as valid when the data has no valid split.
    #[arg(long, default_value_t = 0.1)]
    pub valid_fraction: f64,
    /// Seed for data order, splits, initial weights and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl DataArgs {
    pub fn load_splits(&self) -> Result<Splits> {
        source::load(
            &self.data,
            self.valid.as_deref(),
            self.test.as_deref(),
            self.valid_fraction,
            self.seed,
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// slp: one linear layer (the article); mlp: hidden layers with BatchNorm and dropout.
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    pub model: ModelKind,
    /// Hidden layer sizes of the MLP, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    pub hidden: Vec<usize>,
    /// Leave BatchNorm out of the MLP blocks.
    #[arg(long)]
    pub no_batch_norm: bool,
    /// Dropout probability after each hidden block.
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f32,
    /// sgd (momentum, Nesterov, weight decay) or adamw.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adamw)]
    pub optimizer: OptimizerKind,
    /// Learning rate (default: 0.1 for SGD, 0.001 for AdamW).
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay (default: 0 for SGD, 0.01 for AdamW, as torch.optim).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Learning-rate schedule: constant, step (--step-size, --gamma), cosine (to --eta-min) or plateau.
    #[arg(long, value_enum, default_value_t = ScheduleKind::Cosine)]
    pub schedule: ScheduleKind,
    /// Step schedule: epochs per decay.
    #[arg(long, default_value_t = 10)]
    pub step_size: usize,
    /// Step / plateau schedule: the factor the learning rate is multiplied by.
    #[arg(long, default_value_t = 0.5)]
    pub gamma: f32,
    /// Cosine schedule: the final learning rate.
    #[arg(long, default_value_t = 1e-5)]
    pub eta_min: f32,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Epochs to train (early stopping may end sooner).
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Early stopping: patience (--patience epochs without a better validation loss), article (the article's rule) or never.
    #[arg(long, value_enum, default_value_t = EarlyStopKind::Patience)]
    pub early_stop: EarlyStopKind,
    /// Epochs without improvement for --early-stop patience (and the plateau schedule).
    #[arg(long, default_value_t = 20)]
    pub patience: usize,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip: Option<f32>,
    /// Where to train: cpu, or cuda (a build with the `cuda` feature; problem 78).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Run directory (config.json, metrics.jsonl, checkpoints/, figures, report.md).
    #[arg(long, default_value = "runs/classify")]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunFlags,
}

impl TrainArgs {
    /// The run this command line asks for: its options resolved, or with `--resume` the run's
    /// own, with the options typed again (`typed`, by id) laid over them to be checked.
    pub fn job(&self, typed: &[String]) -> Result<TrainJob> {
        let config = job_config(
            self.run.resume,
            typed,
            SETTINGS,
            &self.out,
            || self.resolve(),
            TrainConfig::read_from_run,
        )?;
        Ok(TrainJob {
            config,
            out: self.out.clone(),
            existing: self.run.existing(),
            json: self.run.json,
        })
    }

    /// The options over their defaults, checked.
    pub fn resolve(&self) -> Result<TrainConfig> {
        if self.batch_size == 0 || self.epochs == 0 {
            bail!("--batch-size and --epochs must be at least 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout must be in [0, 1), got {}", self.dropout);
        }
        let arch = match self.model {
            ModelKind::Slp => Arch::Slp,
            ModelKind::Mlp => {
                if self.hidden.is_empty() || self.hidden.contains(&0) {
                    bail!("--hidden needs one or more positive sizes");
                }
                if !self.no_batch_norm && self.batch_size < 2 {
                    bail!("BatchNorm needs batches of at least 2 examples: raise --batch-size or pass --no-batch-norm");
                }
                Arch::Mlp {
                    hidden: self.hidden.clone(),
                    batch_norm: !self.no_batch_norm,
                    dropout: self.dropout,
                }
            }
        };
        let (optimizer, default_lr) = match self.optimizer {
            OptimizerKind::Sgd => (
                OptimizerConfig::Sgd {
                    momentum: self.momentum,
                    nesterov: self.nesterov,
                    weight_decay: self.weight_decay.unwrap_or(0.0),
                },
                0.1,
            ),
            OptimizerKind::Adamw => (
                OptimizerConfig::AdamW {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: self.weight_decay.unwrap_or(0.01),
                },
                1e-3,
            ),
        };
        let lr = self.lr.unwrap_or(default_lr);
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("--lr must be a positive number, got {lr}");
        }
        let schedule = match self.schedule {
            ScheduleKind::Constant => Schedule::Constant,
            ScheduleKind::Step => Schedule::Step {
                step_size: self.step_size,
                gamma: self.gamma,
            },
            ScheduleKind::Cosine => Schedule::Cosine {
                t_max: self.epochs,
                eta_min: self.eta_min,
            },
            ScheduleKind::Plateau => Schedule::Plateau {
                factor: self.gamma,
                patience: self.patience,
                threshold: 1e-4,
                min_lr: 0.0,
            },
        };
        let early_stop = match self.early_stop {
            EarlyStopKind::Never => EarlyStop::Never,
            EarlyStopKind::Patience => EarlyStop::Patience {
                patience: self.patience,
            },
            EarlyStopKind::Article => EarlyStop::Article,
        };
        Ok(TrainConfig {
            data: path_or_name(&self.data.data),
            valid: self.data.valid.as_deref().map(absolute),
            test: self.data.test.as_deref().map(absolute),
            vectors: path_or_name(&self.data.vectors),
            tokenizer: self.data.tokenizer.into(),
            empty_policy: self.data.empty_policy.into(),
            valid_fraction: self.data.valid_fraction,
            seed: self.data.seed,
            arch,
            optimizer,
            lr,
            schedule,
            batch_size: self.batch_size,
            epochs: self.epochs,
            early_stop,
            clip: self.clip,
            device: self.device.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: TrainArgs,
    }

    #[test]
    fn no_options_resolve_to_the_library_recommended_run() {
        let args = Wrap::parse_from(["train"]).args;
        assert_eq!(args.resolve().unwrap(), TrainConfig::recommended("r8", "glove-100d"));
    }
}
