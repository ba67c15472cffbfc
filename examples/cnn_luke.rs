//! The CNN-on-LUKE article's steps in order, through the library, on a multiple-choice LUKE
//! checkpoint and JCommonsenseQA files you have (tsumugi downloads neither):
//!
//! 1. features: for each question, its five (question, choice) pairs padded together,
//!    `hidden_states[-2]`, choice 0's row averaged over every position, padding included;
//! 2. the article's CNN on those 768 values as a 24×32 image, with its recipe (AdamW lr 0.1,
//!    batches of 100 in order, the best valid epoch kept), printing each epoch with accuracy
//!    beside the article's `predicted - label < 1`;
//! 3. the checkpoint alone, the CNN, and the two averaged, on the validation file.
//!
//! `cargo run --release --example cnn_luke -- DIR train.json valid.json [EPOCHS]` (it writes
//! under `runs/example-cnn-luke/` and refuses to replace an earlier run there). The article ran
//! 100 epochs; the default here is 20.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tsumugi::compute::Device;
use tsumugi::models::qa_head::HeadKind;
use tsumugi::report::run_dir::Existing;
use tsumugi::tasks::qa::eval::{self, EvalJob};
use tsumugi::tasks::qa::features::{self, Choices, FeaturesJob, Pool};
use tsumugi::tasks::qa::train::{self, QaTrainConfig, QaTrainJob};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, train_file, valid_file) = match &args[..] {
        [m, t, v, ..] => (PathBuf::from(m), PathBuf::from(t), PathBuf::from(v)),
        _ => bail!("usage: cnn_luke DIR train.json valid.json [EPOCHS]"),
    };
    let epochs = args.get(3).map(|e| e.parse()).transpose()?.unwrap_or(20);
    let root = Path::new("runs/example-cnn-luke");
    std::fs::create_dir_all(root)?;
    let mut log = |line: &str| println!("{line}");

    // 1. the article's features
    let feature_file = |data: &Path, name: &str| -> Result<PathBuf> {
        let out = root.join(name);
        let s = features::extract(&FeaturesJob {
            model: model.clone(),
            data: data.to_path_buf(),
            layer: -2,
            pool: Pool::PaddedMean,
            choices: Choices::First,
            out: out.clone(),
            batch_size: 8,
            overwrite: false,
            device: Device::Cpu,
        })?;
        log(&format!(
            "{}: [{}, {}, {}]",
            out.display(),
            s.questions,
            s.choices,
            s.hidden
        ));
        Ok(out)
    };
    let train_features = feature_file(&train_file, "train.safetensors")?;
    let valid_features = feature_file(&valid_file, "valid.safetensors")?;

    // 2. the CNN with the article's recipe
    let run = root.join("cnn");
    let trained = train::run(
        &QaTrainJob {
            config: Some(QaTrainConfig {
                train: train_features,
                valid: valid_features,
                head: HeadKind::Cnn,
                width: 128,
                image: (24, 32),
                channels: (32, 64),
                epochs,
                batch_size: 100,
                lr: 0.1,
                weight_decay: 0.01,
                shuffle: false,
                patience: None,
                seed: 0,
                device: Device::Cpu,
            }),
            out: run.clone(),
            existing: Existing::Refuse,
        },
        &mut log,
    )?;
    log(&format!(
        "best epoch {}: valid accuracy {:.4}; the article's metric {:.4}",
        trained.best_epoch, trained.valid_accuracy, trained.valid_article_metric
    ));

    // 3. the checkpoint, the CNN, and both
    let e = eval::evaluate(
        &EvalJob {
            model,
            data: valid_file,
            head: Some(run),
            device: Device::Cpu,
        },
        &mut log,
    )?;
    log(&format!("LUKE alone: accuracy {:.4}", e.model.accuracy));
    if let (Some(h), Some(both)) = (e.head, e.ensemble) {
        log(&format!("the CNN:    accuracy {:.4}", h.accuracy));
        log(&format!("ensemble:   accuracy {:.4}", both.accuracy));
    }
    Ok(())
}
