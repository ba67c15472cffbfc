//! Options of `tsumugi lm train`: a preset, then any option given on the command line over it.

use crate::nn::lm::LmConfig;
use crate::report::run_dir::Existing;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Preset {
    /// Zaremba et al. (2014) small: 2 × 200, no dropout, untied, batch 20, BPTT 20, 13 epochs,
    /// lr halved each epoch after the 4th. Their lr 1 and clip 5 apply to a loss summed over the
    /// 20 steps; with tsumugi's per-token mean loss the same updates are lr 20 and clip 0.25.
    ZarembaSmall,
    /// The book's BetterRnnlm: 2 × 650, dropout 0.5, tied, lr 20, clip 0.25, batch 20, BPTT 35,
    /// 40 epochs, lr ÷ 4 when validation perplexity does not improve.
    BetterRnnlm,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    /// lr · factor^(epoch − start) from epoch `start` on (1-based).
    Decay { start: usize, factor: f32 },
    /// lr · factor whenever the validation loss does not improve.
    Plateau { factor: f32 },
}

/// In words: `× 0.5 each epoch from epoch 5`, `× 0.25 when validation perplexity does not improve`.
impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LrSchedule::Decay { start, factor } => write!(f, "× {factor} each epoch from epoch {start}"),
            LrSchedule::Plateau { factor } => write!(f, "× {factor} when validation perplexity does not improve"),
        }
    }
}

/// As the command line writes it: `zaremba-small`, `better-rnnlm`.
impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let value = self.to_possible_value().expect("every preset has a name");
        write!(f, "{}", value.get_name())
    }
}

/// Where the training steps run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LmDevice {
    /// The CPU's hand-written kernels (every CPU result in README).
    #[default]
    Cpu,
    /// CUDA device 0 (a build with the `cuda` feature).
    Cuda,
}

impl LmDevice {
    fn is_cpu(&self) -> bool {
        *self == LmDevice::Cpu
    }
}

#[derive(Debug, Clone, Args)]
pub struct LmTrainArgs {
    /// `ptb` (fetched on first use) or a directory with {ptb.,}train.txt, valid.txt, test.txt.
    #[arg(long, default_value = "ptb")]
    pub corpus: String,
    /// Explicit training text (with --valid and --test), instead of --corpus.
    #[arg(long, requires_all = ["valid", "test"])]
    pub train: Option<PathBuf>,
    /// Validation text (with --train).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Test text (with --train).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Starting point for every option below that is not given.
    #[arg(long, value_enum, default_value_t = Preset::ZarembaSmall)]
    pub preset: Preset,
    /// Embedding and LSTM width.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Number of stacked LSTM layers.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Dropout on the embedding, between layers and before the decoder.
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Variational dropout: one mask per sequence, reused at every time step.
    #[arg(long)]
    pub variational: bool,
    /// Drop whole words' embeddings with this probability (per batch).
    #[arg(long, default_value_t = 0.0)]
    pub embedding_dropout: f32,
    /// Untie the decoder from the embedding (or tie it with --tied).
    #[arg(long, conflicts_with = "tied")]
    pub untied: bool,
    /// Tie the decoder to the embedding.
    #[arg(long)]
    pub tied: bool,
    /// SGD learning rate (per-token mean loss).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip: Option<f32>,
    /// Parallel streams per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Steps of truncated backpropagation through time.
    #[arg(long)]
    pub bptt: Option<usize>,
    /// Epochs (the preset's by default).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed for initial weights and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop each epoch after this many batches (quick trials).
    #[arg(long)]
    pub max_batches: Option<usize>,
    /// Run directory (config.json, vocab.json, metrics.jsonl, checkpoints/, figure, report.md).
    #[arg(long, default_value = "runs/lm")]
    pub out: PathBuf,
    /// Where the steps run: cpu, or cuda (a GPU build, see tools/cuda-build.sh).
    #[arg(long, value_enum, default_value_t = LmDevice::Cpu)]
    pub device: LmDevice,
    /// Continue the run in --out after its last completed epoch (same corpus and options).
    #[arg(long)]
    pub resume: bool,
    /// Replace a run already in --out (without it, such a run is refused).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The resolved options of one run (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmRunConfig {
    pub preset: Preset,
    pub model: LmConfig,
    pub lr: f32,
    pub clip: f32,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub bptt: usize,
    pub epochs: usize,
    pub schedule: LrSchedule,
    pub seed: u64,
    pub max_batches: Option<usize>,
    /// Absent from a CPU run's config.json, so those files read as before.
    #[serde(default, skip_serializing_if = "LmDevice::is_cpu")]
    pub device: LmDevice,
}

impl LmTrainArgs {
    /// The preset with this command line's options over it; `vocab` comes from the corpus.
    pub fn resolve(&self, vocab: usize) -> Result<LmRunConfig> {
        let (hidden, layers, dropout, tied, lr, clip, batch, bptt, epochs, schedule) = match self.preset {
            Preset::ZarembaSmall => (
                200,
                2,
                0.0,
                false,
                20.0,
                0.25,
                20,
                20,
                13,
                LrSchedule::Decay { start: 5, factor: 0.5 },
            ),
            Preset::BetterRnnlm => (
                650,
                2,
                0.5,
                true,
                20.0,
                0.25,
                20,
                35,
                40,
                LrSchedule::Plateau { factor: 0.25 },
            ),
        };
        let hidden = self.hidden.unwrap_or(hidden);
        let tied = if self.untied { false } else { self.tied || tied };
        let cfg = LmRunConfig {
            preset: self.preset,
            model: LmConfig {
                vocab,
                embed: hidden,
                hidden,
                layers: self.layers.unwrap_or(layers),
                dropout: self.dropout.unwrap_or(dropout),
                tied,
                locked_dropout: self.variational,
                embedding_dropout: self.embedding_dropout,
            },
            lr: self.lr.unwrap_or(lr),
            clip: self.clip.unwrap_or(clip),
            batch_size: self.batch_size.unwrap_or(batch),
            eval_batch_size: 10,
            bptt: self.bptt.unwrap_or(bptt),
            epochs: self.epochs.unwrap_or(epochs),
            schedule,
            seed: self.seed,
            max_batches: self.max_batches,
            device: self.device,
        };
        if cfg.model.hidden == 0 || cfg.model.layers == 0 || cfg.batch_size == 0 || cfg.bptt == 0 || cfg.epochs == 0 {
            bail!("--hidden, --layers, --batch-size, --bptt and --epochs must be at least 1");
        }
        if !(0.0..1.0).contains(&cfg.model.dropout) {
            bail!("--dropout must be in [0, 1), got {}", cfg.model.dropout);
        }
        if !(0.0..1.0).contains(&cfg.model.embedding_dropout) {
            bail!(
                "--embedding-dropout must be in [0, 1), got {}",
                cfg.model.embedding_dropout
            );
        }
        if !(cfg.lr > 0.0 && cfg.lr.is_finite() && cfg.clip > 0.0) {
            bail!("--lr and --clip must be positive numbers");
        }
        Ok(cfg)
    }
}

impl LmTrainArgs {
    /// What `--resume` and `--overwrite` allow with a run already in `--out`.
    pub fn existing(&self) -> Existing {
        Existing::from_flags(self.resume, self.overwrite)
    }
}
