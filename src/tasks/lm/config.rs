//! What `tsumugi lm train` runs: a preset's recipe with any option over it, resolved into the
//! `config.json` a run directory keeps (and `--resume` compares against). The command line
//! (`cli/lm_train.rs`) builds these; nothing here knows about flags.

use crate::compute::Device;
use crate::models::lm_weights::LmConfig;
use crate::report::run_dir::Existing;
use crate::train::schedule::Schedule;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// lr · factor^(epoch − start + 1) from epoch `start` on (1-based).
    Decay { start: usize, factor: f32 },
    /// lr · factor whenever the validation loss does not improve.
    Plateau { factor: f32 },
}

/// The shared loop's schedule for these: the plateau is `ReduceLROnPlateau` with no patience
/// and no threshold.
impl From<LrSchedule> for Schedule {
    fn from(s: LrSchedule) -> Schedule {
        match s {
            LrSchedule::Decay { start, factor } => Schedule::Decay { start, factor },
            LrSchedule::Plateau { factor } => Schedule::Plateau {
                factor,
                patience: 0,
                threshold: 0.0,
                min_lr: 0.0,
            },
        }
    }
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
        f.write_str(match self {
            Preset::ZarembaSmall => "zaremba-small",
            Preset::BetterRnnlm => "better-rnnlm",
        })
    }
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
    #[serde(default, skip_serializing_if = "Device::is_cpu")]
    pub device: Device,
}

impl LmRunConfig {
    /// `preset`'s whole recipe, on the CPU with seed 0; `model.vocab` is set from the corpus
    /// when the run starts.
    pub fn preset(preset: Preset) -> Self {
        let (hidden, dropout, tied, bptt, epochs, schedule) = match preset {
            Preset::ZarembaSmall => (200, 0.0, false, 20, 13, LrSchedule::Decay { start: 5, factor: 0.5 }),
            Preset::BetterRnnlm => (650, 0.5, true, 35, 40, LrSchedule::Plateau { factor: 0.25 }),
        };
        LmRunConfig {
            preset,
            model: LmConfig {
                vocab: 0,
                embed: hidden,
                hidden,
                layers: 2,
                dropout,
                tied,
                locked_dropout: false,
                embedding_dropout: 0.0,
            },
            lr: 20.0,
            clip: 0.25,
            batch_size: 20,
            eval_batch_size: 10,
            bptt,
            epochs,
            schedule,
            seed: 0,
            max_batches: None,
            device: Device::Cpu,
        }
    }

    /// Refuses sizes of zero and rates or probabilities out of range, naming the option.
    pub fn check(&self) -> Result<()> {
        let m = &self.model;
        if m.hidden == 0 || m.embed == 0 || m.layers == 0 || self.batch_size == 0 || self.bptt == 0 || self.epochs == 0
        {
            bail!("--hidden, --layers, --batch-size, --bptt and --epochs must be at least 1");
        }
        if !(0.0..1.0).contains(&m.dropout) {
            bail!("--dropout must be in [0, 1), got {}", m.dropout);
        }
        if !(0.0..1.0).contains(&m.embedding_dropout) {
            bail!("--embedding-dropout must be in [0, 1), got {}", m.embedding_dropout);
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && self.clip > 0.0) {
            bail!("--lr and --clip must be positive numbers");
        }
        Ok(())
    }
}

/// Where `lm train` reads its text.
#[derive(Debug, Clone)]
pub enum CorpusSource {
    /// `ptb` (fetched on first use) or a directory with {ptb.,}train.txt, valid.txt, test.txt.
    Named(String),
    /// Train, valid and test files.
    Files {
        train: PathBuf,
        valid: PathBuf,
        test: PathBuf,
    },
}

/// One `lm train` invocation, resolved.
#[derive(Debug, Clone)]
pub struct LmTrainJob {
    pub corpus: CorpusSource,
    /// The run's options (`model.vocab` is set from the corpus); `None` when resuming with the
    /// run's own, from its `config.json`.
    pub config: Option<LmRunConfig>,
    pub out: PathBuf,
    /// What to do with a run already in `out`.
    pub existing: Existing,
    /// Progress lines go to stderr (stdout is kept for the JSON result).
    pub json: bool,
}
