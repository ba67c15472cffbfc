//! Flag values shared by several commands, each turned into the library's own type: the
//! library's enums stay free of clap, and the help text lives here with the flags.

use clap::{Args, ValueEnum};
use tsumugi::compute::Device;
use tsumugi::data::tokenize::Tokenizer;
use tsumugi::embed::features::EmptyPolicy;
use tsumugi::report::run_dir::Existing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// The CPU's hand-written kernels (every CPU result in README).
    Cpu,
    /// CUDA device 0 (a build with the `cuda` feature).
    Cuda,
}

impl From<DeviceArg> for Device {
    fn from(d: DeviceArg) -> Device {
        match d {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenizerArg {
    /// Punctuation to spaces, then split (the article's `transform_w2v`).
    Article,
    /// Keeps word-internal punctuation; lookup falls back to lower case and compound parts.
    Words,
}

impl From<TokenizerArg> for Tokenizer {
    fn from(t: TokenizerArg) -> Tokenizer {
        match t {
            TokenizerArg::Article => Tokenizer::Article,
            TokenizerArg::Words => Tokenizer::Words,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmptyArg {
    /// Use the zero vector; the count is reported.
    Zero,
    /// Stop with an error naming the text.
    Error,
}

impl From<EmptyArg> for EmptyPolicy {
    fn from(e: EmptyArg) -> EmptyPolicy {
        match e {
            EmptyArg::Zero => EmptyPolicy::Zero,
            EmptyArg::Error => EmptyPolicy::Error,
        }
    }
}

/// What a training command does with a run already in `--out`, and how it prints.
#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    /// Continue the run in --out after its last completed epoch, with the options it was
    /// started with.
    #[arg(long)]
    pub resume: bool,
    /// Replace a run already in --out (without it, such a run is refused).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl RunFlags {
    pub fn existing(&self) -> Existing {
        Existing::from_flags(self.resume, self.overwrite)
    }
}
