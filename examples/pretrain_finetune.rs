//! The pre-training/fine-tuning article's steps in order, through the library:
//!
//! 1. pre-train the one-layer LSTM language model (embedding 200, LSTM 512, dropout 0.3, Adam,
//!    batch 32) on the texts of the `sentiment` data, printing each epoch's loss as Keras's
//!    `fit` does;
//! 2. build the classifier (embedding → LSTM with dropout 0.5 → mean over time → dropout →
//!    dense(1) + sigmoid), take the embedding and LSTM weights from step 1, and fine-tune it
//!    for 20 epochs on all the training texts, then 3,000 and 1,000;
//! 3. train the same classifier from scratch on the same texts, and print both test
//!    accuracies side by side.
//!
//! `cargo run --release --example pretrain_finetune` (it writes under `runs/example-finetune/`
//! and refuses to replace an earlier run there). The article pre-trained for 60 epochs; this
//! keeps the best of 10 by valid perplexity.

use anyhow::Result;
use std::path::{Path, PathBuf};
use tsumugi::compute::Device;
use tsumugi::models::lstm_classifier::Pool;
use tsumugi::report::run_dir::Existing;
use tsumugi::tasks::finetune::pretrain::{self, PretrainConfig, PretrainJob};
use tsumugi::tasks::finetune::train::{self, FinetuneConfig, FinetuneJob, RateSchedule};

fn main() -> Result<()> {
    let root = Path::new("runs/example-finetune");
    let mut log = |line: &str| println!("{line}");

    // 1. pre-training: x[:-1] → x[1:] over every text, Adam
    let lm_dir = root.join("lm");
    let lm = PretrainConfig {
        data: "sentiment".into(),
        num_words: Some(10000),
        oov: false,
        max_len: 50,
        embed: 200,
        hidden: 512,
        dropout: 0.3,
        batch_size: 32,
        lr: 1e-3,
        epochs: 10,
        patience: None,
        valid_fraction: 0.05,
        seed: 0,
        corpus: None,
        from: None,
        device: Device::Cpu,
    };
    let done = pretrain::run(
        &PretrainJob {
            config: Some(lm),
            out: lm_dir.clone(),
            existing: Existing::Refuse,
        },
        &mut log,
    )?;
    println!(
        "pre-training done: best epoch {}, valid perplexity {:.2}",
        done.best_epoch, done.valid_perplexity
    );

    // 2. and 3. fine-tuning against scratch at each data range
    let classifier = |from: Option<PathBuf>, train_size: Option<usize>| FinetuneConfig {
        data: "sentiment".into(),
        from,
        train_size,
        seed: 0,
        epochs: 20,
        batch_size: 32,
        lr: 1e-3,
        pool: Pool::Mean,
        input_dropout: 0.5,
        dropout: 0.5,
        embed: 200,
        hidden: 512,
        num_words: Some(10000),
        oov: false,
        max_len: 50,
        discriminative: None,
        schedule: RateSchedule::Constant,
        gradual_unfreeze: false,
        valid_fraction: 0.1,
        patience: None,
        device: Device::Cpu,
    };
    for size in [None, Some(3000), Some(1000)] {
        let name = size.map_or("all".to_string(), |n| n.to_string());
        let mut accuracy = Vec::new();
        for (arm, from) in [("pretrained", Some(lm_dir.clone())), ("scratch", None)] {
            let job = FinetuneJob {
                config: Some(classifier(from, size)),
                out: root.join(format!("{arm}-{name}")),
                existing: Existing::Refuse,
            };
            let run = train::run(&job, &mut log)?;
            accuracy.push((arm, run.test_accuracy, run.best_epoch));
        }
        for (arm, acc, epoch) in accuracy {
            println!("data_range {name}: {arm} test accuracy {acc:.4} (best epoch {epoch})");
        }
    }
    Ok(())
}
