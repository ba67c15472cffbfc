//! The flags of `tsumugi lm train`, resolved into a [`LmTrainJob`]: the preset's recipe with
//! every option given on the command line over it.

use super::flags::{DeviceArg, RunFlags};
use super::resume::job_config;
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use tsumugi::tasks::lm::config::{CorpusSource, LmRunConfig, LmTrainJob, Preset};
use tsumugi::tasks::lm::saved::{recorded_corpus, SavedRun};

/// Which fields of `config.json` each option sets, for `--resume` with options typed again.
const SETTINGS: &[(&str, &[&str])] = &[
    ("preset", &["preset"]),
    ("hidden", &["model.hidden", "model.embed"]),
    ("layers", &["model.layers"]),
    ("dropout", &["model.dropout"]),
    ("variational", &["model.locked_dropout"]),
    ("embedding_dropout", &["model.embedding_dropout"]),
    ("untied", &["model.tied"]),
    ("tied", &["model.tied"]),
    ("lr", &["lr"]),
    ("clip", &["clip"]),
    ("batch_size", &["batch_size"]),
    ("bptt", &["bptt"]),
    ("epochs", &["epochs"]),
    ("seed", &["seed"]),
    ("max_batches", &["max_batches"]),
    ("device", &["device"]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Zaremba et al. (2014) small: 2 × 200, no dropout, untied, batch 20, BPTT 20, 13 epochs,
    /// lr halved each epoch after the 4th. Their lr 1 and clip 5 apply to a loss summed over the
    /// 20 steps; with tsumugi's per-token mean loss the same updates are lr 20 and clip 0.25.
    ZarembaSmall,
    /// The book's BetterRnnlm: 2 × 650, dropout 0.5, tied, lr 20, clip 0.25, batch 20, BPTT 35,
    /// 40 epochs, lr ÷ 4 when validation perplexity does not improve.
    BetterRnnlm,
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
    #[arg(long, value_enum, default_value_t = PresetArg::ZarembaSmall)]
    pub preset: PresetArg,
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
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub run: RunFlags,
}

impl LmTrainArgs {
    /// The run this command line asks for: the preset with its options over it, or with
    /// `--resume` the run's own options, with those typed again (`typed`, by id) laid over
    /// them to be checked.
    pub fn job(&self, typed: &[String]) -> Result<LmTrainJob> {
        let config = job_config(
            self.run.resume,
            typed,
            SETTINGS,
            &self.out,
            || Ok(self.resolve()),
            |out| Ok(SavedRun::open(out)?.config),
        )?;
        // a resumed run reads the corpus it recorded, unless one is typed again
        let corpus_typed = ["corpus", "train", "valid", "test"]
            .iter()
            .any(|id| typed.iter().any(|t| t == id));
        let recorded = match self.run.resume && !corpus_typed {
            true => recorded_corpus(&self.out)?,
            false => None,
        };
        let corpus = match (&self.train, &self.valid, &self.test, recorded) {
            (_, _, _, Some([train, valid, test])) => CorpusSource::Files { train, valid, test },
            (Some(train), Some(valid), Some(test), None) => CorpusSource::Files {
                train: train.clone(),
                valid: valid.clone(),
                test: test.clone(),
            },
            _ => CorpusSource::Named(self.corpus.clone()),
        };
        Ok(LmTrainJob {
            corpus,
            config,
            out: self.out.clone(),
            existing: self.run.existing(),
            json: self.run.json,
        })
    }

    /// The preset with this command line's options over it.
    fn resolve(&self) -> LmRunConfig {
        let mut cfg = LmRunConfig::preset(match self.preset {
            PresetArg::ZarembaSmall => Preset::ZarembaSmall,
            PresetArg::BetterRnnlm => Preset::BetterRnnlm,
        });
        let m = &mut cfg.model;
        if let Some(hidden) = self.hidden {
            (m.embed, m.hidden) = (hidden, hidden);
        }
        m.layers = self.layers.unwrap_or(m.layers);
        m.dropout = self.dropout.unwrap_or(m.dropout);
        m.tied = if self.untied { false } else { self.tied || m.tied };
        m.locked_dropout = self.variational;
        m.embedding_dropout = self.embedding_dropout;
        cfg.lr = self.lr.unwrap_or(cfg.lr);
        cfg.clip = self.clip.unwrap_or(cfg.clip);
        cfg.batch_size = self.batch_size.unwrap_or(cfg.batch_size);
        cfg.bptt = self.bptt.unwrap_or(cfg.bptt);
        cfg.epochs = self.epochs.unwrap_or(cfg.epochs);
        cfg.seed = self.seed;
        cfg.max_batches = self.max_batches;
        cfg.device = self.device.into();
        cfg
    }
}
