//! `tsumugi qa …`: multiple-choice QA on LUKE features (the CNN-on-LUKE article), resolved into
//! the library's `qa` jobs.

use super::print_json;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use tsumugi::tasks::qa::features::{self, Choices, FeaturesJob, Pool};

#[derive(Subcommand)]
pub enum QaCommand {
    /// Writes one feature vector per question (or per choice) from a LUKE checkpoint's hidden
    /// states: `features` [N, C, H] and `labels` [N] in a safetensors file. The article's
    /// features are `--layer -2 --pool padded-mean --choices first`.
    Features(FeaturesArgs),
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
}

pub fn run(cmd: QaCommand) -> Result<()> {
    match cmd {
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
