//! The flags of `tsumugi bench luke`, turned into the library's [`BenchLuke`].

use super::flags::DeviceArg;
use clap::Args;
use std::path::PathBuf;
use tsumugi::tasks::bench::luke::BenchLuke;

#[derive(Debug, Args)]
pub struct BenchLukeArgs {
    /// Python with torch and transformers installed, for the peer (skipped with --no-peer).
    #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
    pub python: String,
    /// The transformers peer script.
    #[arg(long, default_value = "tools/peers/luke_peer.py")]
    pub peer_script: PathBuf,
    /// Time only tsumugi, on the checkpoint given with --model.
    #[arg(long, requires = "model")]
    pub no_peer: bool,
    /// A LUKE checkpoint to time (with --no-peer); by default the peer writes a random one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Hidden size.
    #[arg(long, default_value_t = 768)]
    pub hidden: usize,
    /// Transformer layers.
    #[arg(long, default_value_t = 12)]
    pub layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 12)]
    pub heads: usize,
    /// Feed-forward size.
    #[arg(long, default_value_t = 3072)]
    pub intermediate: usize,
    /// Entity embedding size.
    #[arg(long, default_value_t = 256)]
    pub entity_emb: usize,
    /// Word tokens per sequence, <s> and </s> included.
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Batch sizes to time, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub batches: Vec<usize>,
    /// Timed forwards on each side.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Threads for the peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Where both sides run: cpu, or cuda (a build with the `cuda` feature; transformers on
    /// `cuda:0`, fp32 without TF32 on both sides).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

impl From<BenchLukeArgs> for BenchLuke {
    fn from(a: BenchLukeArgs) -> BenchLuke {
        BenchLuke {
            python: a.python,
            peer_script: a.peer_script,
            no_peer: a.no_peer,
            model: a.model,
            hidden: a.hidden,
            layers: a.layers,
            heads: a.heads,
            intermediate: a.intermediate,
            entity_emb: a.entity_emb,
            seq: a.seq,
            batches: a.batches,
            repeats: a.repeats,
            threads: a.threads,
            device: a.device.into(),
        }
    }
}
