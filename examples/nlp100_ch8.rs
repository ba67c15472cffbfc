//! NLP 100 Knocks (2020), chapter 8, problems 70–79, step by step, printing what the article
//! prints. Without arguments it uses R8 and GloVe 100-d (fetched on first use); the article's own
//! setup is
//!
//! ```sh
//! cargo run --release --example nlp100_ch8 -- --news newsCorpora.csv --vectors GoogleNews-vectors-negative300.bin.gz
//! ```

use anyhow::Result;
use clap::Parser;
use std::path::{Path, PathBuf};
use tsumugi::models::classifier::Arch;
use tsumugi::report::run_dir::Existing;
use tsumugi::tasks::classify::config::{TrainConfig, TrainJob};
use tsumugi::tasks::classify::{featurize, inspect, source, sweep, train};
use tsumugi::tasks::news;
use tsumugi::train::early_stop::EarlyStop;
use tsumugi::train::optim::OptimizerConfig;
use tsumugi::train::schedule::Schedule;

#[derive(Parser)]
struct Options {
    /// newsCorpora.csv (UCI News Aggregator); without it, the R8 dataset is used.
    #[arg(long)]
    news: Option<PathBuf>,
    /// Word vectors file or name.
    #[arg(long, default_value = "glove-100d")]
    vectors: String,
    /// Where runs and prepared data go.
    #[arg(long, default_value = "runs/nlp100_ch8")]
    out: PathBuf,
}

/// Trains `cfg` into `out`; the walkthrough's runs are its own scratch, so running it again
/// replaces them.
fn train_into(cfg: TrainConfig, out: &Path) -> Result<train::TrainSummary> {
    train::run(&TrainJob {
        config: Some(cfg),
        out: out.to_path_buf(),
        existing: Existing::Overwrite,
        json: false,
    })
}

fn main() -> Result<()> {
    let opt = Options::parse();
    let data = match &opt.news {
        Some(csv) => {
            println!("50. splitting {} (seed 123)", csv.display());
            let dir = opt.out.join("news");
            let summary = news::prepare(csv, &dir, 123, true)?;
            for (split, counts) in &summary.counts {
                println!(
                    "[{split}] {}",
                    counts
                        .iter()
                        .map(|(c, n)| format!("{c} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            dir.display().to_string()
        }
        None => "r8".to_string(),
    };
    let recommended = TrainConfig::recommended(&data, &opt.vectors);

    println!("\n70. features: mean word vectors");
    let c = &recommended;
    let splits = source::load(&c.data, None, None, c.valid_fraction, c.seed)?;
    let set = featurize::build(&splits, &c.vectors, c.tokenizer, c.empty_policy)?;
    println!("X_train: [{}, {}]", set.train.rows, set.dim);
    let first: Vec<Vec<f32>> = set.train.x.chunks(set.dim).take(3).map(<[f32]>::to_vec).collect();
    println!("{}", inspect::format_matrix(&first));
    println!("y_train: {:?} ...", &set.train.y[..set.train.rows.min(6)]);
    for (split, c) in &set.coverage {
        println!("{split}: {}", c.summary());
    }

    let r = inspect::inspect(&set, 0)?;
    println!("\n71. y_hat_1 = softmax(x_1 W)\n{}", inspect::format_matrix(&r.y_hat_1));
    println!("Y_hat = softmax(X[1:4] W)\n{}", inspect::format_matrix(&r.y_hat));
    println!(
        "\n72. loss: {:.4}\ngradient:\n{}",
        r.loss_1,
        inspect::format_matrix(&r.grad_1)
    );
    println!(
        "loss (x_1..x_4): {:.4}\ngradient:\n{}",
        r.loss_4,
        inspect::format_matrix(&r.grad_4)
    );

    println!("\n73-76. single-layer network, SGD lr 0.1, batch 1, 10 epochs, a checkpoint each epoch");
    let slp = TrainConfig {
        arch: Arch::Slp,
        optimizer: OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        lr: 0.1,
        batch_size: 1,
        epochs: 10,
        schedule: Schedule::Constant,
        early_stop: EarlyStop::Never,
        ..recommended.clone()
    };
    let s = train_into(slp, &opt.out.join("slp"))?;
    println!("74. accuracy (train): {:.3}", s.train_accuracy);
    if let Some(t) = s.test_accuracy {
        println!("    accuracy (test):  {t:.3}");
    }
    println!(
        "75. figures: {}",
        s.figures
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("76. checkpoints: {}", s.run_dir.join("checkpoints").display());

    println!("\n77. one epoch per batch size");
    let cfg = TrainConfig::plain_sgd(Arch::Slp, 1, 0.1);
    let sizes: Vec<usize> = (0..11).map(|i| 1 << i).collect();
    sweep::sweep(&cfg, &set, &sizes, |row| {
        println!(
            "batch {:>4}: loss_train {:.4}, accuracy_train {:.4}, loss_valid {:.4}, accuracy_valid {:.4}, {:.4}sec",
            row.batch_size, row.train_loss, row.train_accuracy, row.valid_loss, row.valid_accuracy, row.seconds
        )
    })?;

    println!("\n78. GPU: this build trains on the CPU (no CUDA support yet)");

    println!("\n79. MLP: Linear → BatchNorm → ReLU, AdamW, cosine schedule, early stopping");
    let s = train_into(recommended, &opt.out.join("mlp"))?;
    println!("accuracy (train): {:.3}", s.train_accuracy);
    if let Some(t) = s.test_accuracy {
        println!("accuracy (test):  {t:.3}");
    }
    println!("report: {}", s.report.display());
    Ok(())
}
