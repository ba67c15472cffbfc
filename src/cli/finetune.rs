//! `tsumugi finetune …`: pre-train an LSTM language model on a task's texts, then fine-tune it
//! as a text classifier (the pre-training/fine-tuning article, with ULMFiT's options).

use super::flags::{DeviceArg, RunFlags};
use super::print_json;
use super::resume::job_config;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use tsumugi::data::json::read_json;
use tsumugi::models::lstm_classifier::Pool;
use tsumugi::report::run_dir::{absolute, path_or_name};
use tsumugi::tasks::finetune::compare::{self, Arm, CompareConfig, CompareJob, Reading};
use tsumugi::tasks::finetune::pretrain::{self, PretrainConfig, PretrainJob};
use tsumugi::tasks::finetune::train::{self, FinetuneConfig, FinetuneJob, RateSchedule};

#[derive(Subcommand)]
pub enum FinetuneCommand {
    /// Pre-trains the article's LSTM language model on the task's texts (labels unused).
    Pretrain(Box<PretrainArgs>),
    /// Trains the LSTM classifier from scratch or from a pre-trained run; prints test accuracy
    /// at the best-valid epoch.
    Train(Box<TrainArgs>),
    /// The experiment: scratch against pre-trained (and ULMFiT) at several train sizes and
    /// seeds; prints mean ± sd test accuracy per size and arm, with figures.
    Compare(Box<CompareArgs>),
}

/// The data and tokenizer options both commands take.
#[derive(Debug, Clone, Args)]
pub struct TextFlags {
    /// `sentiment` (Hutto & Gilbert, fetched on first use), another dataset `classify` takes
    /// (`r8`, `r52`, `20ng`, `rotten-tomatoes`: fresh and rotten reviews), a `label<TAB>text` file or a directory with train.tsv.
    #[arg(long, default_value = "sentiment")]
    pub data: String,
    /// Keras's `num_words`: only ids below it are kept (the most frequent num_words − 1 words).
    #[arg(long, default_value_t = 10000)]
    pub num_words: usize,
    /// Give words outside the kept vocabulary id 1 (Keras's `oov_token`) instead of dropping them.
    #[arg(long)]
    pub oov: bool,
    /// Words kept from the start of each text.
    #[arg(long, default_value_t = 50)]
    pub max_len: usize,
    /// Embedding width.
    #[arg(long, default_value_t = 200)]
    pub embed: usize,
    /// LSTM width.
    #[arg(long, default_value_t = 512)]
    pub hidden: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Stop after this many epochs without a lower validation loss.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Seed of the splits, the initial weights, the batch order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the models train: cpu, or cuda (a build with the `cuda` feature).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

#[derive(Debug, Clone, Args)]
pub struct PretrainArgs {
    #[command(flatten)]
    pub text: TextFlags,
    /// Epochs (the best by valid perplexity is kept).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Dropout on the LSTM's input and output (the article's 0.3).
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f32,
    /// Learn from general-domain text instead of the task's texts (ULMFiT's first stage): `ptb`
    /// (fetched on first use), a text file or a folder of .txt files, one text per line. The
    /// vocabulary is still --data's.
    #[arg(long)]
    pub corpus: Option<String>,
    /// A `finetune pretrain` run to continue from (its weights, vocabulary and sizes): after a
    /// --corpus run, this trains on the task's texts (ULMFiT's second stage).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolArg {
    /// The mean of the LSTM's outputs over each text's words (the article's).
    Mean,
    /// ULMFiT's concat pooling: the last output, the max and the mean.
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// One rate throughout.
    Constant,
    /// ULMFiT's slanted triangular rates (cut fraction 0.1, ratio 32).
    Stlr,
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub text: TextFlags,
    /// A `finetune pretrain` run whose embedding and LSTM (and vocabulary, sizes, --num-words,
    /// --max-len) start the classifier; without it, training starts from scratch.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Training examples drawn (seeded) from the data left after the test and valid splits;
    /// all of them when absent.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Epochs (test accuracy is taken at the best-valid epoch).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// How the LSTM's outputs become one vector.
    #[arg(long, value_enum, default_value_t = PoolArg::Mean)]
    pub pool: PoolArg,
    /// Dropout on the embedding output (the LSTM's input).
    #[arg(long, default_value_t = 0.5)]
    pub input_dropout: f32,
    /// Dropout on the pooled vector.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// ULMFiT's discriminative rates: each layer group below the head learns this many times
    /// slower than the one above (2.6 in the paper).
    #[arg(long)]
    pub discriminative: Option<f32>,
    /// How the rate moves over the run.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
    pub schedule: ScheduleArg,
    /// ULMFiT's gradual unfreezing: the head alone in epoch 1, the LSTM joins in epoch 2, the
    /// embedding in epoch 3.
    #[arg(long)]
    pub gradual_unfreeze: bool,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArmArg {
    /// From scratch, the article's recipe.
    Scratch,
    /// Embedding and LSTM from the language model, the article's recipe.
    Pretrained,
    /// From the language model with ULMFiT's recipe: concat pooling, discriminative rates
    /// (÷ 2.6), slanted triangular rates, gradual unfreezing.
    Ulmfit,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub text: TextFlags,
    /// Train sizes, comma-separated; `all` is every text left after the test and valid splits.
    #[arg(long, value_delimiter = ',', default_value = "1000,3000,all")]
    pub sizes: Vec<String>,
    /// Seeds per size and arm (0, 1, …).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// The arms to train, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "scratch,pretrained")]
    pub arms: Vec<ArmArg>,
    /// A `finetune pretrain` run to start from instead of pre-training one.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Classifier epochs (test accuracy is taken at each run's best-valid epoch).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Language-model epochs (the best by valid perplexity is kept).
    #[arg(long, default_value_t = 10)]
    pub pretrain_epochs: usize,
    /// Run directory: the language model in pretrain/, each classifier in runs/.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: RunFlags,
}

impl CompareArgs {
    pub fn job(&self) -> Result<CompareJob> {
        let sizes = self
            .sizes
            .iter()
            .map(|s| match s.trim() {
                "all" => Ok(None),
                n => n
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| anyhow::anyhow!("--sizes: `{n}` is neither a number nor `all`")),
            })
            .collect::<Result<Vec<_>>>()?;
        let train = TrainArgs {
            text: self.text.clone(),
            from: None,
            train_size: None,
            epochs: self.epochs,
            pool: PoolArg::Mean,
            input_dropout: 0.5,
            dropout: 0.5,
            discriminative: None,
            schedule: ScheduleArg::Constant,
            gradual_unfreeze: false,
            out: self.out.clone(),
            run: self.run.clone(),
        };
        let pretrain = PretrainArgs {
            text: self.text.clone(),
            epochs: self.pretrain_epochs,
            dropout: 0.3,
            corpus: None,
            from: None,
            out: self.out.clone(),
            run: self.run.clone(),
        };
        let arms = self
            .arms
            .iter()
            .map(|a| match a {
                ArmArg::Scratch => Arm::Scratch,
                ArmArg::Pretrained => Arm::Pretrained,
                ArmArg::Ulmfit => Arm::Ulmfit,
            })
            .collect();
        Ok(CompareJob {
            config: CompareConfig {
                classifier: train.resolve(),
                pretrain: pretrain.resolve(),
                from: self.from.as_deref().map(absolute),
                sizes,
                seeds: self.seeds,
                arms,
            },
            out: self.out.clone(),
            existing: self.run.existing(),
        })
    }
}

/// Which fields of `config.json` each option sets, for `--resume` with options typed again.
const TEXT_SETTINGS: [(&str, &[&str]); 11] = [
    ("data", &["data"]),
    ("num_words", &["num_words"]),
    ("oov", &["oov"]),
    ("max_len", &["max_len"]),
    ("embed", &["embed"]),
    ("hidden", &["hidden"]),
    ("batch_size", &["batch_size"]),
    ("lr", &["lr"]),
    ("patience", &["patience"]),
    ("seed", &["seed"]),
    ("device", &["device"]),
];

/// The config a command hands the library (see [`job_config`]): the text options' settings and
/// `more` say which fields typed options set; a run's own is read from its `config.json`.
fn config<T: Serialize + DeserializeOwned>(
    run: &RunFlags,
    out: &Path,
    typed: &[String],
    more: &[(&'static str, &'static [&'static str])],
    resolve: impl FnOnce() -> T,
) -> Result<Option<T>> {
    let table: Vec<_> = TEXT_SETTINGS.iter().copied().chain(more.iter().copied()).collect();
    job_config(
        run.resume,
        typed,
        &table,
        out,
        || Ok(resolve()),
        |out| read_json(&out.join("config.json")),
    )
}

impl PretrainArgs {
    fn resolve(&self) -> PretrainConfig {
        let t = &self.text;
        PretrainConfig {
            data: path_or_name(&t.data),
            num_words: Some(t.num_words),
            oov: t.oov,
            max_len: t.max_len,
            embed: t.embed,
            hidden: t.hidden,
            dropout: self.dropout,
            batch_size: t.batch_size,
            lr: t.lr,
            epochs: self.epochs,
            patience: t.patience,
            valid_fraction: 0.05,
            seed: t.seed,
            // `ptb` is the dataset even where a folder of that name is at hand
            corpus: self.corpus.as_deref().map(|c| match c {
                "ptb" => c.to_string(),
                _ => path_or_name(c),
            }),
            from: self.from.as_deref().map(absolute),
            device: t.device.into(),
        }
    }

    pub fn job(&self, typed: &[String]) -> Result<PretrainJob> {
        let more = [
            ("epochs", &["epochs"][..]),
            ("dropout", &["dropout"]),
            ("corpus", &["corpus"]),
            ("from", &["from"]),
        ];
        Ok(PretrainJob {
            config: config(&self.run, &self.out, typed, &more, || self.resolve())?,
            out: self.out.clone(),
            existing: self.run.existing(),
        })
    }
}

impl TrainArgs {
    fn resolve(&self) -> FinetuneConfig {
        let t = &self.text;
        FinetuneConfig {
            data: path_or_name(&t.data),
            from: self.from.as_deref().map(absolute),
            train_size: self.train_size,
            seed: t.seed,
            epochs: self.epochs,
            batch_size: t.batch_size,
            lr: t.lr,
            pool: match self.pool {
                PoolArg::Mean => Pool::Mean,
                PoolArg::Concat => Pool::Concat,
            },
            input_dropout: self.input_dropout,
            dropout: self.dropout,
            embed: t.embed,
            hidden: t.hidden,
            num_words: Some(t.num_words),
            oov: t.oov,
            max_len: t.max_len,
            discriminative: self.discriminative,
            schedule: match self.schedule {
                ScheduleArg::Constant => RateSchedule::Constant,
                ScheduleArg::Stlr => RateSchedule::Stlr,
            },
            gradual_unfreeze: self.gradual_unfreeze,
            valid_fraction: 0.1,
            patience: t.patience,
            device: t.device.into(),
        }
    }

    pub fn job(&self, typed: &[String]) -> Result<FinetuneJob> {
        let more = [
            ("from", &["from"][..]),
            ("train_size", &["train_size"]),
            ("epochs", &["epochs"]),
            ("pool", &["pool"]),
            ("input_dropout", &["input_dropout"]),
            ("dropout", &["dropout"]),
            ("discriminative", &["discriminative"]),
            ("schedule", &["schedule"]),
            ("gradual_unfreeze", &["gradual_unfreeze"]),
        ];
        Ok(FinetuneJob {
            config: config(&self.run, &self.out, typed, &more, || self.resolve())?,
            out: self.out.clone(),
            existing: self.run.existing(),
        })
    }
}

pub fn run(cmd: FinetuneCommand, typed: &[String]) -> Result<()> {
    match cmd {
        FinetuneCommand::Pretrain(args) => {
            let json = args.run.json;
            let mut log = |line: &str| if json { eprintln!("{line}") } else { println!("{line}") };
            let done = pretrain::run(&args.job(typed)?, &mut log)?;
            if json {
                return print_json(&done);
            }
            println!(
                "best epoch {}: valid perplexity {:.2}; the run is in {}",
                done.best_epoch,
                done.valid_perplexity,
                done.run_dir.display()
            );
        }
        FinetuneCommand::Train(args) => {
            let json = args.run.json;
            let mut log = |line: &str| if json { eprintln!("{line}") } else { println!("{line}") };
            let done = train::run(&args.job(typed)?, &mut log)?;
            if json {
                return print_json(&done);
            }
            println!(
                "test accuracy {:.4} at the best-valid epoch {} ({} training texts); the report is {}",
                done.test_accuracy,
                done.best_epoch,
                done.train_size,
                done.run_dir.join("report.md").display()
            );
        }
        FinetuneCommand::Compare(args) => {
            let json = args.run.json;
            let mut log = |line: &str| if json { eprintln!("{line}") } else { println!("{line}") };
            let job = args.job()?;
            let done = compare::run(&job, &mut log)?;
            if json {
                return print_json(&serde_json::json!({ "rows": done.rows }));
            }
            for reading in Reading::ALL {
                println!("{}:", reading.caption());
                print!("{}", compare::table(&job.config, &done.rows, reading));
            }
            println!(
                "{:.0} s; the report and figures are in {}",
                done.seconds,
                done.run_dir.display()
            );
        }
    }
    Ok(())
}
