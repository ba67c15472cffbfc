//! What `lm train` leaves for a reader: its records (one `metrics.jsonl` line per epoch, the
//! run's summary), the perplexity figure (PNG and SVG) and `report.md` with the recipe, the
//! result and every epoch.

use super::config::LmRunConfig;
use crate::compute::Device;
use crate::report::plot::{best_epoch_marker, line_panels, Panel, Series};
use crate::report::run_dir::RunDir;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmEpoch {
    pub epoch: usize,
    pub lr: f32,
    pub train_perplexity: f64,
    pub valid_perplexity: f64,
}

#[derive(Debug, Serialize)]
pub struct LmSummary {
    pub run_dir: PathBuf,
    pub best_epoch: usize,
    pub valid_perplexity: f64,
    pub test_perplexity: f64,
    /// Wall time of this invocation: a resumed run counts from its `--resume`.
    pub seconds: f64,
    pub report: PathBuf,
}

/// The corpus files a run read, for the report's header.
pub struct Corpus<'a> {
    pub train: &'a Path,
    pub train_tokens: usize,
    pub valid: &'a Path,
    pub test: &'a Path,
}

/// Writes `perplexity.{png,svg}` and `report.md` (atomically) into the run directory.
pub fn write_report(
    run: &RunDir,
    summary: &LmSummary,
    cfg: &LmRunConfig,
    history: &[LmEpoch],
    corpus: Corpus,
) -> Result<()> {
    let series = |name: &str, f: fn(&LmEpoch) -> f64| Series {
        name: name.into(),
        points: history.iter().map(|r| (r.epoch as f64, f(r))).collect(),
        errors: Vec::new(),
    };
    line_panels(
        &run.path("perplexity"),
        &[Panel {
            title: "perplexity".into(),
            x_label: "epoch".into(),
            y_label: "perplexity".into(),
            series: vec![
                series("train", |r| r.train_perplexity),
                series("valid", |r| r.valid_perplexity),
            ],
            log_x: false,
            marker: best_epoch_marker(summary.best_epoch),
        }],
    )?;
    // a CPU run's report reads as before the option existed
    let device_line = match cfg.device {
        Device::Cpu => "",
        Device::Cuda => "- device: cuda (dropout masks from the counter-based hash of compute::mask)\n",
    };
    let mut md = format!(
        "# Language model run\n\n- preset {}, model: {}\n- lr {}, clip {}, batch {}, BPTT {}, {} epochs, schedule {}, seed {}\n{}- corpus: {} ({} tokens), {} , {}\n\n## Result\n\n| best epoch | valid perplexity | test perplexity | seconds since start or `--resume` |\n|---|---|---|---|\n| {} | {:.2} | {:.2} | {:.0} |\n\n![perplexity](perplexity.png)\n\n## Epochs\n\n| epoch | lr | train ppl | valid ppl |\n|---|---|---|---|\n",
        cfg.preset, cfg.model, cfg.lr, cfg.clip, cfg.batch_size, cfg.bptt, cfg.epochs, cfg.schedule, cfg.seed,
        device_line, corpus.train.display(), corpus.train_tokens, corpus.valid.display(), corpus.test.display(),
        summary.best_epoch, summary.valid_perplexity, summary.test_perplexity, summary.seconds
    );
    for r in history {
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} |\n",
            r.epoch, r.lr, r.train_perplexity, r.valid_perplexity
        ));
    }
    crate::atomic::write_atomic(&summary.report, md.as_bytes())
}
