//! `tsumugi lm …`: train, evaluate and sample language models.

use super::flags::DeviceArg;
use super::print_json;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum LmCommand {
    /// Trains on PTB (fetched on first use) or your text files; prints test perplexity.
    Train(Box<super::lm_train::LmTrainArgs>),
    /// Perplexity of a trained run's best model on a text file, or `ptb:test` / `ptb:valid`.
    Eval {
        /// Run directory written by `lm train --out`.
        #[arg(long)]
        run: PathBuf,
        /// Text file, one sentence per line, or `ptb:test`, `ptb:valid`, `ptb:train` (default: the
        /// run's own test split). A word the run never saw becomes <unk> when its vocabulary has
        /// one, and is an error naming it otherwise.
        #[arg(long)]
        text: Option<String>,
        /// Checkpoint in the run's checkpoints/ to evaluate.
        #[arg(long, default_value = "best.safetensors")]
        checkpoint: String,
        /// Where the model runs: cpu, or cuda (a build with the `cuda` feature).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Text from a trained run (Deep Learning from Scratch 2 ch. 7): the prompt, then sampled words.
    Generate {
        /// Run directory written by `lm train --out`.
        #[arg(long)]
        run: PathBuf,
        /// Words to start from (whitespace-separated, as in the corpus).
        #[arg(long, default_value = "the")]
        prompt: String,
        /// Words to sample after the prompt.
        #[arg(long, default_value_t = 100)]
        words: usize,
        /// Softmax temperature: below 1 sharper, above 1 flatter.
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// Seed of the sampling (the same seed gives the same text).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Checkpoint in the run's checkpoints/ to sample from.
        #[arg(long, default_value = "best.safetensors")]
        checkpoint: String,
        /// Where the model runs: cpu, or cuda (a build with the `cuda` feature).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `lm` command; `typed` holds the ids of the options typed for `train`.
pub fn run(cmd: LmCommand, typed: &[String]) -> Result<()> {
    match cmd {
        LmCommand::Train(args) => {
            let s = tsumugi::tasks::lm::train::run(&args.job(typed)?)?;
            if args.run.json {
                return print_json(&s);
            }
            println!(
                "test perplexity: {:.2} (valid {:.2}, best epoch {}), {:.0} s",
                s.test_perplexity, s.valid_perplexity, s.best_epoch, s.seconds
            );
            println!("report: {}", s.report.display());
        }

        LmCommand::Eval {
            run,
            text,
            checkpoint,
            device,
            json,
        } => {
            use tsumugi::tasks::lm::eval;
            let text = text.map(|t| eval::text_path(&t)).transpose()?;
            let r = eval::run(&run, text.as_deref(), &checkpoint, device.into())?;
            if json {
                return print_json(&r);
            }
            println!(
                "perplexity {:.2} over {} tokens of {}",
                r.perplexity,
                r.tokens,
                r.text.display()
            );
        }

        LmCommand::Generate {
            run,
            prompt,
            words,
            temperature,
            seed,
            checkpoint,
            device,
            json,
        } => {
            use tsumugi::tasks::lm::generate;
            let a = generate::GenerateArgs {
                run: &run,
                prompt: &prompt,
                words,
                temperature,
                seed,
                checkpoint: &checkpoint,
                device: device.into(),
            };
            let out = generate::run(&a)?;
            if json {
                return print_json(&serde_json::json!({ "words": out, "text": generate::render(&out) }));
            }
            println!("{}", generate::render(&out));
        }
    }
    Ok(())
}
