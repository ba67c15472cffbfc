//! `tsumugi classify …`: features, training, evaluation and prediction of word-vector classifiers.

use super::classify_args::{DataArgs, ModelKind, TrainArgs};
use super::flags::DeviceArg;
use super::print_json;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use tsumugi::models::classifier::Arch;
use tsumugi::tasks::classify::config::TrainConfig;
use tsumugi::tasks::classify::{eval, featurize, inspect, predict, sweep, train};

#[derive(Subcommand)]
pub enum ClassifyCommand {
    /// Problem 70: mean-vector features X_train, y_train, … saved as safetensors.
    Features {
        #[command(flatten)]
        data: DataArgs,
        /// Where to write the features (safetensors).
        #[arg(long)]
        out: PathBuf,
    },
    /// Problems 71–72: softmax, loss and gradient of an untrained single-layer network.
    Inspect {
        #[command(flatten)]
        data: DataArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Problems 73–79: trains a classifier into a run directory (report, figures, checkpoints).
    Train(Box<TrainArgs>),
    /// Scores a finished run on its test split, or on --data.
    Eval {
        /// The run directory `classify train --out` wrote.
        #[arg(long)]
        run: PathBuf,
        /// A dataset name, directory or labelled file to score instead of the run's own test split.
        #[arg(long)]
        data: Option<String>,
        /// Where the model scores: cpu, or cuda (a build with the `cuda` feature; the CPU is
        /// quicker for a few thousand texts, as a GPU takes longer to start).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Print the evaluation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Labels new text with a finished run.
    Predict {
        /// The run directory `classify train --out` wrote.
        #[arg(long)]
        run: PathBuf,
        /// One or more texts.
        #[arg(required_unless_present = "input", conflicts_with = "input")]
        texts: Vec<String>,
        /// A file of texts, one per line (`-`: standard input); with --json, JSON lines out.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Where the model scores: cpu, or cuda (a build with the `cuda` feature; the CPU is
        /// quicker for a few thousand texts, as a GPU takes longer to start).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Print the predictions as JSON (one object per line with --input).
        #[arg(long)]
        json: bool,
    },
    /// Problem 77: one epoch at batch sizes 1, 2, 4, … with timings, a table and a figure.
    SweepBatch {
        #[command(flatten)]
        data: DataArgs,
        /// Model to train at each batch size.
        #[arg(long, value_enum, default_value_t = ModelKind::Slp)]
        model: ModelKind,
        /// Learning rate (SGD).
        #[arg(long, default_value_t = 0.1)]
        lr: f32,
        /// Largest batch size (powers of two up to it).
        #[arg(long, default_value_t = 1024)]
        max_batch: usize,
        /// Where to train: cpu, or cuda (a build with the `cuda` feature; problem 78).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Directory for the table, the figure and the timings.
        #[arg(long, default_value = "runs/sweep-batch")]
        out: PathBuf,
        /// Print the sweep as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `classify` command; `typed` holds the ids of the options typed for `train`.
pub fn run(cmd: ClassifyCommand, typed: &[String]) -> Result<()> {
    match cmd {
        ClassifyCommand::Features { data, out } => {
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer.into(), data.empty_policy.into())?;
            featurize::save(&out, &set)?;
            for (split, c) in &set.coverage {
                println!("{split}: {}", c.summary());
            }
            println!("X_train: [{}, {}]", set.train.rows, set.dim);
            println!("wrote {}", out.display());
        }
        ClassifyCommand::Inspect { data, json } => {
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer.into(), data.empty_policy.into())?;
            let r = inspect::inspect(&set, data.seed)?;
            if json {
                return print_json(&r);
            }
            println!("71. y_hat_1 = softmax(x_1 W)\n{}", inspect::format_matrix(&r.y_hat_1));
            println!("71. Y_hat = softmax(X[1:4] W)\n{}", inspect::format_matrix(&r.y_hat));
            println!(
                "72. loss (x_1): {:.4}\ngradient dl/dW:\n{}",
                r.loss_1,
                inspect::format_matrix(&r.grad_1)
            );
            println!(
                "72. loss (x_1..x_4): {:.4}\ngradient dl/dW:\n{}",
                r.loss_4,
                inspect::format_matrix(&r.grad_4)
            );
        }
        ClassifyCommand::Train(args) => {
            let summary = train::run(&args.job(typed)?)?;
            if args.run.json {
                return print_json(&summary);
            }
            if let Some(acc) = summary.test_accuracy {
                println!(
                    "test accuracy: {acc:.4} (macro F1 {:.4})",
                    summary.test_macro_f1.unwrap_or(0.0)
                );
            }
            println!(
                "valid accuracy: {:.4}, train accuracy: {:.4}; weights of epoch {} of {}",
                summary.valid_accuracy, summary.train_accuracy, summary.best_epoch, summary.epochs_trained
            );
            println!("report: {}", summary.report.display());
            println!(
                "figures: {}",
                summary
                    .figures
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        ClassifyCommand::Eval {
            run,
            data,
            device,
            json,
        } => {
            let saved = predict::load_run(&run)?;
            let (file, e) = eval::run(&saved, data.as_deref(), device.into())?;
            if json {
                return print_json(&serde_json::json!({ "data": file, "evaluation": e }));
            }
            println!(
                "{file}: accuracy {:.4}, macro F1 {:.4}, loss {:.4}",
                e.accuracy, e.macro_f1, e.loss
            );
            for c in &e.per_class {
                println!(
                    "  {:<12} precision {:.4} recall {:.4} F1 {:.4} support {}",
                    c.label, c.precision, c.recall, c.f1, c.support
                );
            }
        }
        ClassifyCommand::Predict {
            run,
            texts,
            input,
            device,
            json,
        } => {
            let saved = predict::load_run(&run)?;
            let texts = match &input {
                Some(path) => predict::read_texts(path)?,
                None => texts,
            };
            let predictions = predict::predict(&saved, &texts, device.into())?;
            if json && input.is_some() {
                for p in &predictions {
                    println!("{}", serde_json::to_string(p)?);
                }
                return Ok(());
            }
            if json {
                return print_json(&predictions);
            }
            for p in predictions {
                let probs: Vec<String> = p.probabilities.iter().map(|(l, v)| format!("{l} {v:.4}")).collect();
                let mark = if p.no_known_word { "\t(no known word)" } else { "" };
                println!("{}\t{}{mark}", p.label, probs.join("  "));
            }
        }
        ClassifyCommand::SweepBatch {
            data,
            model,
            lr,
            max_batch,
            device,
            out,
            json,
        } => {
            let device = device.into();
            tsumugi::compute::dispatch::check(device)?;
            let arch = match model {
                ModelKind::Slp => Arch::Slp,
                ModelKind::Mlp => Arch::Mlp {
                    hidden: vec![200],
                    batch_norm: true,
                    dropout: 0.0,
                },
            };
            let mut cfg = TrainConfig::plain_sgd(arch, 1, lr);
            cfg.data = data.data.clone();
            cfg.vectors = data.vectors.clone();
            cfg.tokenizer = data.tokenizer.into();
            cfg.seed = data.seed;
            cfg.device = device;
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer.into(), data.empty_policy.into())?;
            let min_batch = if cfg.arch != Arch::Slp { 2 } else { 1 };
            let sizes: Vec<usize> = (0..)
                .map(|i| 1usize << i)
                .take_while(|&b| b <= max_batch.max(1))
                .filter(|&b| b >= min_batch)
                .collect();
            let rows = sweep::sweep(&cfg, &set, &sizes, |r| {
                if !json {
                    println!(
                        "batch {:>5}: {:.4}sec ({:.0} examples/s), loss_train {:.4}, accuracy_train {:.4}, loss_valid {:.4}, accuracy_valid {:.4}",
                        r.batch_size, r.seconds, r.examples_per_second, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy
                    )
                }
            })?;
            std::fs::create_dir_all(&out)?;
            sweep::figure(&out.join("sweep"), &rows)?;
            tsumugi::atomic::write_atomic(&out.join("sweep.md"), sweep::markdown(&rows).as_bytes())?;
            tsumugi::atomic::write_atomic(&out.join("sweep.json"), serde_json::to_string_pretty(&rows)?.as_bytes())?;
            if json {
                return print_json(&rows);
            }
            println!(
                "table: {}, figure: {}",
                out.join("sweep.md").display(),
                out.join("sweep.png").display()
            );
        }
    }
    Ok(())
}
