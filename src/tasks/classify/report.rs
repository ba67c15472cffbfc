//! The run's figures (problem 75's loss/accuracy curves, a confusion matrix) and `report.md`.

use super::config::TrainConfig;
use super::featurize::FeatureSet;
use super::trainer::EpochRecord;
use crate::embed::features::Coverage;
use crate::report::plot::{confusion_matrix, loss_and_accuracy};
use crate::report::run_dir::RunDir;
use crate::train::metrics::Evaluation;
use anyhow::Result;
use std::fmt::Write;

pub fn curves(run: &RunDir, history: &[EpochRecord], best_epoch: usize) -> Result<()> {
    loss_and_accuracy(
        &run.path("curves"),
        history,
        |r| r.epoch,
        best_epoch,
        &[("train", |r| r.train_loss), ("valid", |r| r.valid_loss)],
        &[("train", |r| r.train_accuracy), ("valid", |r| r.valid_accuracy)],
    )
}

pub fn confusion(run: &RunDir, split: &str, labels: &[String], eval: &Evaluation) -> Result<()> {
    confusion_matrix(
        &run.path("confusion"),
        &format!("confusion matrix ({split})"),
        labels,
        &eval.confusion,
    )
}

pub struct ReportInput<'a> {
    pub cfg: &'a TrainConfig,
    pub data: &'a FeatureSet,
    pub valid_origin: &'a str,
    pub history: &'a [EpochRecord],
    pub best_epoch: usize,
    pub stopped_early: Option<&'a str>,
    pub evaluations: &'a [(String, Evaluation)],
    pub coverage: &'a [(String, Coverage)],
    pub trainable: usize,
}

pub fn markdown(input: &ReportInput) -> String {
    let mut md = String::new();
    let cfg = input.cfg;
    let _ = writeln!(md, "# Text classification run\n");
    let _ = writeln!(
        md,
        "- data: `{}` ({} classes: {}); valid: {}",
        cfg.data,
        input.data.labels.len(),
        input.data.labels.join(", "),
        input.valid_origin
    );
    let _ = writeln!(
        md,
        "- features: mean of `{}` vectors ({} dimensions), --tokenizer {}, texts without a known word: --empty {}",
        cfg.vectors,
        input.data.dim,
        value_name(cfg.tokenizer),
        value_name(cfg.empty_policy)
    );
    let _ = writeln!(md, "- model: {}, {} trainable parameters", cfg.arch, input.trainable);
    let _ = writeln!(
        md,
        "- optimizer: {}, lr {}, schedule {}, batch {}, up to {} epochs, early stop {}, clip {}, seed {}",
        cfg.optimizer,
        cfg.lr,
        cfg.schedule,
        cfg.batch_size,
        cfg.epochs,
        cfg.early_stop,
        cfg.clip.map_or("none".to_string(), |c| c.to_string()),
        cfg.seed
    );
    let _ = writeln!(
        md,
        "- trained {} epoch(s){}; evaluated with the weights of epoch {} (lowest validation loss)\n",
        input.history.len(),
        input.stopped_early.map(|s| format!(", {s}")).unwrap_or_default(),
        input.best_epoch
    );
    let _ = writeln!(md, "## Vocabulary coverage\n");
    for (split, c) in input.coverage {
        let _ = writeln!(md, "- {split}: {}", c.summary());
    }
    let _ = writeln!(
        md,
        "\n## Results\n\n| split | loss | accuracy | macro F1 |\n|---|---|---|---|"
    );
    for (split, e) in input.evaluations {
        let _ = writeln!(
            md,
            "| {split} | {:.4} | {:.4} | {:.4} |",
            e.loss, e.accuracy, e.macro_f1
        );
    }
    if let Some((split, e)) = input.evaluations.last() {
        let _ = writeln!(
            md,
            "\n## Per class ({split})\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|"
        );
        for c in &e.per_class {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {:.4} | {} |",
                c.label, c.precision, c.recall, c.f1, c.support
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Figures\n\n![loss and accuracy per epoch](curves.png)\n\n![confusion matrix](confusion.png)\n"
    );
    let _ = writeln!(
        md,
        "## Epochs\n\n| epoch | lr | train loss | train acc | valid loss | valid acc |\n|---|---|---|---|---|---|"
    );
    for r in input.history {
        let _ = writeln!(
            md,
            "| {} | {:.6} | {:.4} | {:.4} | {:.4} | {:.4} |",
            r.epoch, r.lr, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy
        );
    }
    md
}

/// A setting's name as `config.json` and the command line spell it (`words`, `zero`).
fn value_name(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
