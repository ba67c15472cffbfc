//! What `tsumugi classify train` runs: the resolved options of one run, as the `config.json` a
//! run directory keeps (and `--resume` reads back). The command line (`cli/classify_args.rs`)
//! builds them; nothing here knows about flags.

use crate::compute::Device;
use crate::data::tokenize::Tokenizer;
use crate::embed::features::EmptyPolicy;
use crate::models::classifier::Arch;
use crate::report::run_dir::Existing;
use crate::train::early_stop::EarlyStop;
use crate::train::optim::OptimizerConfig;
use crate::train::schedule::Schedule;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The resolved options of one run, as stored in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: String,
    #[serde(default)]
    pub valid: Option<PathBuf>,
    #[serde(default)]
    pub test: Option<PathBuf>,
    pub vectors: String,
    pub tokenizer: Tokenizer,
    pub empty_policy: EmptyPolicy,
    pub valid_fraction: f64,
    pub seed: u64,
    pub arch: Arch,
    pub optimizer: OptimizerConfig,
    pub lr: f32,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    pub early_stop: EarlyStop,
    pub clip: Option<f32>,
    pub device: Device,
}

impl TrainConfig {
    /// The options a run in `dir` was started with.
    pub fn read_from_run(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("--resume needs {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a classify config", path.display()))
    }

    /// What `classify train` runs with no options but `--data` and `--vectors`: an MLP (256,
    /// BatchNorm, dropout 0.2), AdamW 1e-3 with weight decay 0.01, cosine over 60 epochs to 1e-5,
    /// batch 64, early stopping after 20 epochs without a better validation loss.
    pub fn recommended(data: &str, vectors: &str) -> Self {
        TrainConfig {
            data: data.to_string(),
            valid: None,
            test: None,
            vectors: vectors.to_string(),
            tokenizer: Tokenizer::Words,
            empty_policy: EmptyPolicy::Zero,
            valid_fraction: 0.1,
            seed: 0,
            arch: Arch::Mlp {
                hidden: vec![256],
                batch_norm: true,
                dropout: 0.2,
            },
            optimizer: OptimizerConfig::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
            },
            lr: 1e-3,
            schedule: Schedule::Cosine {
                t_max: 60,
                eta_min: 1e-5,
            },
            batch_size: 64,
            epochs: 60,
            early_stop: EarlyStop::Patience { patience: 20 },
            clip: None,
            device: Device::Cpu,
        }
    }

    /// Plain SGD at a constant rate for one epoch, as the article's problem 77 and the benchmark.
    pub fn plain_sgd(arch: Arch, batch_size: usize, lr: f32) -> Self {
        TrainConfig {
            data: String::new(),
            valid: None,
            test: None,
            vectors: String::new(),
            tokenizer: Tokenizer::Words,
            empty_policy: EmptyPolicy::Zero,
            valid_fraction: 0.1,
            seed: 0,
            arch,
            optimizer: OptimizerConfig::Sgd {
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            },
            lr,
            schedule: Schedule::Constant,
            batch_size,
            epochs: 1,
            early_stop: EarlyStop::Never,
            clip: None,
            device: Device::Cpu,
        }
    }
}

/// One `classify train` invocation, resolved.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The run's options; `None` when resuming, where they come from the run's `config.json`.
    pub config: Option<TrainConfig>,
    pub out: PathBuf,
    /// What to do with a run already in `out`.
    pub existing: Existing,
    /// Progress lines go to stderr (stdout is kept for the JSON result).
    pub json: bool,
}
