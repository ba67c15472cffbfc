//! `tsumugi finetune compare`: the article's experiment with error bars. One language model is
//! pre-trained (or `--from` reused) and serves every seed; then each arm trains at each size
//! with each seed, and the test accuracies are summarised as mean ± sd per size and arm, read
//! two ways: at the best-valid epoch (the selection a held-out split allows), and at the last
//! epoch trained (the article's reading of its curves, where scratch has over-fitted by then).
//! Two figures: accuracy against train size (both readings), and valid accuracy per
//! epoch at each size (the article's three plots, where scratch over-fits).
//!
//! Every run lives in its own folder under `runs/`, and a finished one leaves `result.json`:
//! `--resume` reuses finished runs, resumes a stopped one from its last epoch and starts the
//! rest, so an interrupted comparison loses at most one epoch.

use super::pretrain::{self, PretrainConfig, PretrainJob};
use super::train::{self, FinetuneConfig, FinetuneJob, Finetuned, RateSchedule};
use crate::models::lstm_classifier::Pool;
use crate::report::plot::{line_panels, Panel, Series};
use crate::report::run_dir::{Existing, RunDir};
use crate::train::epochs::same_options;
use crate::train::metrics::mean_sd;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// How a classifier starts and trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// From scratch, the article's recipe.
    Scratch,
    /// Embedding and LSTM from the language model, the article's recipe.
    Pretrained,
    /// From the language model with ULMFiT's recipe: concat pooling, discriminative rates
    /// (÷ 2.6), slanted triangular rates and gradual unfreezing.
    Ulmfit,
}

impl Arm {
    pub fn name(&self) -> &'static str {
        match self {
            Arm::Scratch => "scratch",
            Arm::Pretrained => "pretrained",
            Arm::Ulmfit => "ulmfit",
        }
    }

    /// The classifier's options for this arm over the shared ones.
    fn apply(&self, base: &FinetuneConfig, lm: &Path) -> FinetuneConfig {
        let mut cfg = base.clone();
        match self {
            Arm::Scratch => cfg.from = None,
            Arm::Pretrained => cfg.from = Some(lm.to_path_buf()),
            Arm::Ulmfit => {
                cfg.from = Some(lm.to_path_buf());
                cfg.pool = Pool::Concat;
                cfg.discriminative = Some(2.6);
                cfg.schedule = RateSchedule::Stlr;
                cfg.gradual_unfreeze = true;
            }
        }
        cfg
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareConfig {
    /// The classifier's shared options (`from`, `train_size` and the seed are set per run).
    pub classifier: FinetuneConfig,
    /// The language model's options (unused with `from`).
    pub pretrain: PretrainConfig,
    /// A `finetune pretrain` run to use instead of pre-training one.
    pub from: Option<PathBuf>,
    /// Train sizes; `None` is all.
    pub sizes: Vec<Option<usize>>,
    pub seeds: usize,
    pub arms: Vec<Arm>,
}

pub struct CompareJob {
    pub config: CompareConfig,
    pub out: PathBuf,
    pub existing: Existing,
}

/// One line of the table (and of `--json`'s `rows`).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The number of training texts actually used ("all" resolved).
    pub train_size: usize,
    pub arm: Arm,
    /// Test accuracy at the best-valid epoch.
    pub accuracy_mean: f64,
    pub accuracy_sd: f64,
    /// Test accuracy at the last epoch trained.
    pub last_epoch_accuracy_mean: f64,
    pub last_epoch_accuracy_sd: f64,
    pub seeds: usize,
}

/// Which of a run's test accuracies a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    BestValid,
    LastEpoch,
}

impl Reading {
    /// Both, in the order the tables and the figure's panels show them.
    pub const ALL: [Reading; 2] = [Reading::BestValid, Reading::LastEpoch];

    /// Which epoch's test accuracy it is.
    fn epoch(&self) -> &'static str {
        match self {
            Reading::BestValid => "best-valid epoch",
            Reading::LastEpoch => "last epoch trained",
        }
    }

    /// The table's caption.
    pub fn caption(&self) -> String {
        let why = match self {
            Reading::BestValid => "",
            Reading::LastEpoch => " (the article's reading of its curves, when no --patience ends the runs early)",
        };
        format!("test accuracy at the {}{why}", self.epoch())
    }

    fn of(&self, r: &Row) -> (f64, f64) {
        match self {
            Reading::BestValid => (r.accuracy_mean, r.accuracy_sd),
            Reading::LastEpoch => (r.last_epoch_accuracy_mean, r.last_epoch_accuracy_sd),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub run_dir: PathBuf,
    pub seconds: f64,
}

fn size_name(size: Option<usize>) -> String {
    size.map_or("all".to_string(), |n| n.to_string())
}

/// How a run folder of the comparison is opened: a stopped run is resumed, anything else (a
/// run that never finished an epoch) started again.
fn existing_in(dir: &Path) -> Existing {
    if dir.join("metrics.jsonl").exists() {
        Existing::Resume
    } else {
        Existing::Overwrite
    }
}

/// Trains (or reuses, or resumes) one classifier run.
fn one_run(cfg: FinetuneConfig, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<Finetuned> {
    let result = dir.join("result.json");
    if result.exists() {
        return crate::data::json::read_json(&result);
    }
    let job = FinetuneJob {
        config: Some(cfg),
        out: dir.to_path_buf(),
        existing: existing_in(dir),
    };
    let done = train::run(&job, log)?;
    crate::atomic::write_atomic(&result, serde_json::to_string_pretty(&done)?.as_bytes())?;
    Ok(done)
}

pub fn run(job: &CompareJob, log: &mut dyn FnMut(&str)) -> Result<Comparison> {
    let began = std::time::Instant::now();
    let cfg = &job.config;
    if cfg.seeds == 0 || cfg.sizes.is_empty() || cfg.arms.is_empty() {
        bail!("a comparison needs at least one seed, size and arm");
    }
    cfg.classifier.check()?;
    if cfg.from.is_none() {
        cfg.pretrain.check()?;
    }
    RunDir::check(&job.out, job.existing)?;
    crate::compute::dispatch::check(cfg.classifier.device)?;
    crate::compute::dispatch::check(cfg.pretrain.device)?;
    if job.existing == Existing::Resume {
        let saved: CompareConfig = crate::data::json::read_json(&job.out.join("config.json"))?;
        same_options(&job.out, &saved, cfg, "")?;
    }
    let run = RunDir::create(&job.out, job.existing)?;
    run.write_json("config.json", cfg)?;
    let needs_lm = cfg.arms.iter().any(|a| *a != Arm::Scratch);
    let lm = match (&cfg.from, needs_lm) {
        (Some(dir), _) => dir.clone(),
        (None, false) => PathBuf::new(),
        (None, true) => {
            let dir = run.path("pretrain");
            // `done` marks a finished pre-training; a stopped one resumes from its last epoch
            if !dir.join("done").exists() {
                log("pre-training the language model every arm starts from");
                let lm_job = PretrainJob {
                    config: Some(cfg.pretrain.clone()),
                    out: dir.clone(),
                    existing: existing_in(&dir),
                };
                let done = pretrain::run(&lm_job, log)?;
                log(&format!(
                    "language model: best epoch {}, valid perplexity {:.2}",
                    done.best_epoch, done.valid_perplexity
                ));
                crate::atomic::write_atomic(&dir.join("done"), b"")?;
            }
            dir
        }
    };
    let mut results: Vec<(Option<usize>, Arm, Vec<Finetuned>)> = Vec::new();
    for &size in &cfg.sizes {
        for &arm in &cfg.arms {
            let mut seeds = Vec::new();
            for seed in 0..cfg.seeds as u64 {
                let mut c = arm.apply(&cfg.classifier, &lm);
                c.train_size = size;
                c.seed = seed;
                let dir = run
                    .path("runs")
                    .join(format!("{}-{}-seed{seed}", size_name(size), arm.name()));
                log(&format!("size {}, {}, seed {seed}", size_name(size), arm.name()));
                let done = one_run(c, &dir, log)?;
                log(&format!(
                    "  test accuracy {:.4} (best epoch {})",
                    done.test_accuracy, done.best_epoch
                ));
                seeds.push(done);
            }
            results.push((size, arm, seeds));
        }
    }
    let rows: Vec<Row> = results
        .iter()
        .map(|(_, arm, runs)| {
            let acc: Vec<f64> = runs.iter().map(|r| r.test_accuracy).collect();
            let (accuracy_mean, accuracy_sd) = mean_sd(&acc);
            let last: Vec<f64> = runs.iter().map(last_epoch_accuracy).collect();
            let (last_epoch_accuracy_mean, last_epoch_accuracy_sd) = mean_sd(&last);
            Row {
                train_size: runs[0].train_size,
                arm: *arm,
                accuracy_mean,
                accuracy_sd,
                last_epoch_accuracy_mean,
                last_epoch_accuracy_sd,
                seeds: runs.len(),
            }
        })
        .collect();
    figures(&run, &rows, &results)?;
    crate::atomic::write_atomic(&run.path("report.md"), markdown(cfg, &rows).as_bytes())?;
    Ok(Comparison {
        rows,
        run_dir: run.root.clone(),
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// A run's test accuracy at its last epoch.
fn last_epoch_accuracy(run: &Finetuned) -> f64 {
    run.history.last().map_or(run.test_accuracy, |h| h.test_accuracy)
}

/// The report: the two readings' tables, one line per size, mean ± sd per arm, and each
/// arm's gain over scratch.
pub fn markdown(cfg: &CompareConfig, rows: &[Row]) -> String {
    let mut md = String::from("# finetune compare\n\n");
    let _ = writeln!(
        md,
        "Mean ± sd over {} seeds; data `{}`; one language model serves every seed.\n",
        cfg.seeds, cfg.classifier.data
    );
    for reading in Reading::ALL {
        let _ = writeln!(md, "## {}\n", reading.caption());
        md.push_str(&table(cfg, rows, reading));
        md.push('\n');
    }
    md.push_str(
        "The best-valid epoch is chosen on the valid split, which no test text is in. The article \
         validated on its test set and read its gains off the curves' ends, after 20 epochs.\n",
    );
    md
}

/// One reading's table alone (also printed by the command).
pub fn table(cfg: &CompareConfig, rows: &[Row], reading: Reading) -> String {
    let mut md = String::from("| train size |");
    for arm in &cfg.arms {
        let _ = write!(md, " {} |", arm.name());
    }
    let gains: Vec<Arm> = cfg.arms.iter().copied().filter(|a| *a != Arm::Scratch).collect();
    let has_scratch = cfg.arms.contains(&Arm::Scratch);
    if has_scratch {
        for arm in &gains {
            let _ = write!(md, " {} − scratch |", arm.name());
        }
    }
    md.push_str("\n|---:|");
    let columns = cfg.arms.len() + if has_scratch { gains.len() } else { 0 };
    md.push_str(&"---:|".repeat(columns));
    md.push('\n');
    for chunk in rows.chunks(cfg.arms.len()) {
        let _ = write!(md, "| {} |", chunk[0].train_size);
        for r in chunk {
            let (mean, sd) = reading.of(r);
            let _ = write!(md, " {mean:.4} ± {sd:.4} |");
        }
        if let Some(scratch) = chunk.iter().find(|r| r.arm == Arm::Scratch) {
            for arm in &gains {
                if let Some(r) = chunk.iter().find(|r| r.arm == *arm) {
                    let _ = write!(
                        md,
                        " {:+.2} points |",
                        100.0 * (reading.of(r).0 - reading.of(scratch).0)
                    );
                }
            }
        }
        md.push('\n');
    }
    md
}

fn figures(run: &RunDir, rows: &[Row], results: &[(Option<usize>, Arm, Vec<Finetuned>)]) -> Result<()> {
    let mut arms: Vec<Arm> = Vec::new();
    for r in rows {
        if !arms.contains(&r.arm) {
            arms.push(r.arm);
        }
    }
    let by_arm = |arm: Arm| rows.iter().filter(move |r| r.arm == arm);
    // one panel per reading, side by side
    let accuracy: Vec<Panel> = Reading::ALL
        .into_iter()
        .map(|reading| Panel {
            title: format!("test accuracy at the {} (mean ± sd)", reading.epoch()),
            x_label: "training texts".into(),
            y_label: "accuracy".into(),
            series: arms
                .iter()
                .map(|&arm| Series {
                    name: arm.name().to_string(),
                    points: by_arm(arm).map(|r| (r.train_size as f64, reading.of(r).0)).collect(),
                    errors: by_arm(arm).map(|r| reading.of(r).1).collect(),
                })
                .collect(),
            log_x: true,
            marker: None,
        })
        .collect();
    line_panels(&run.path("accuracy"), &accuracy)?;
    let mut sizes: Vec<Option<usize>> = results.iter().map(|r| r.0).collect();
    sizes.dedup();
    let panels: Vec<Panel> = sizes
        .iter()
        .map(|&size| {
            let series = results
                .iter()
                .filter(|r| r.0 == size)
                .map(|(_, arm, runs)| {
                    // the mean over the seeds that reached each epoch (early stopping ends some)
                    let epochs = runs.iter().map(|r| r.history.len()).max().unwrap_or(0);
                    let points = (0..epochs)
                        .map(|e| {
                            let at: Vec<f64> = runs
                                .iter()
                                .filter_map(|r| r.history.get(e))
                                .map(|h| h.valid_accuracy)
                                .collect();
                            ((e + 1) as f64, at.iter().sum::<f64>() / at.len() as f64)
                        })
                        .collect();
                    Series {
                        name: arm.name().to_string(),
                        points,
                        errors: Vec::new(),
                    }
                })
                .collect();
            Panel {
                title: format!(
                    "{} training texts",
                    results.iter().find(|r| r.0 == size).map_or(0, |r| r.2[0].train_size)
                ),
                x_label: "epoch".into(),
                y_label: "valid accuracy (mean over seeds)".into(),
                series,
                log_x: false,
                marker: None,
            }
        })
        .collect();
    line_panels(&run.path("valid_curves"), &panels)
}
