//! `tsumugi classify train`: data → features → model → training → evaluation → report.

use super::config::{TrainConfig, TrainJob};
use super::{featurize, report, source, trainer};
use crate::compute::dispatch::{check as check_device, on_device, OnBackend};
use crate::compute::Backend;
use crate::report::run_dir::{Existing, RunDir};
use crate::train::epochs::{same_options, Finished};
use crate::train::metrics::{evaluate, Evaluation};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Serialize)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub epochs_trained: usize,
    pub best_epoch: usize,
    pub train_accuracy: f64,
    pub valid_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub test_macro_f1: Option<f64>,
    pub report: PathBuf,
    pub figures: Vec<PathBuf>,
}

pub fn run(job: &TrainJob) -> Result<TrainSummary> {
    // nothing is written until the options, the data and the vectors have been read
    RunDir::check(&job.out, job.existing)?;
    let resume = job.existing == Existing::Resume;
    let cfg: TrainConfig = match (&job.config, resume) {
        (Some(cfg), false) => cfg.clone(),
        (typed, true) => {
            let saved = TrainConfig::read_from_run(&job.out)?;
            if let Some(cfg) = typed {
                let hint = " (training longer is a new run: --epochs also shapes the schedule)";
                same_options(&job.out, &saved, cfg, hint)?;
            }
            saved
        }
        (None, false) => bail!("a new run needs its options"),
    };
    check_device(cfg.device)?;
    let mut log = |line: &str| {
        if job.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let splits = source::load(
        &cfg.data,
        cfg.valid.as_deref(),
        cfg.test.as_deref(),
        cfg.valid_fraction,
        cfg.seed,
    )?;
    log(&format!(
        "data: {} train / {} valid / {} test examples, {} classes",
        splits.train.len(),
        splits.valid.len(),
        splits.test.as_ref().map_or(0, |t| t.len()),
        splits.labels.len()
    ));
    let data = featurize::build(&splits, &cfg.vectors, cfg.tokenizer, cfg.empty_policy)?;
    for (split, c) in &data.coverage {
        log(&format!("features {split}: {}", c.summary()));
    }
    let run = RunDir::create(&job.out, job.existing)?;
    if !resume {
        run.write_json("config.json", &cfg)?;
    }
    run.write_json("labels.json", &data.labels)?;
    let (outcome, evaluations, trainable) = on_device(
        cfg.device,
        TrainAndScore {
            cfg: &cfg,
            data: &data,
            run: &run,
            resume,
            log: &mut log,
        },
    )?;
    if let Some(why) = &outcome.stopped_early {
        log(why);
    }
    report::curves(&run, &outcome.history, outcome.best_epoch)?;
    let (last_split, last_eval) = evaluations.last().expect("train and valid are always evaluated");
    report::confusion(&run, last_split, &data.labels, last_eval)?;
    run.write_json("evaluation.json", &evaluations)?;
    let md = report::markdown(&report::ReportInput {
        cfg: &cfg,
        data: &data,
        valid_origin: &splits.valid_origin,
        history: &outcome.history,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early.as_deref(),
        evaluations: &evaluations,
        coverage: &data.coverage,
        trainable,
    });
    crate::atomic::write_atomic(&run.path("report.md"), md.as_bytes())?;
    let get = |n: &str| evaluations.iter().find(|(s, _)| s == n).map(|(_, e)| e);
    Ok(TrainSummary {
        run_dir: run.root.clone(),
        epochs_trained: outcome.history.len(),
        best_epoch: outcome.best_epoch,
        train_accuracy: get("train").map_or(0.0, |e| e.accuracy),
        valid_accuracy: get("valid").map_or(0.0, |e| e.accuracy),
        test_accuracy: get("test").map(|e| e.accuracy),
        test_macro_f1: get("test").map(|e| e.macro_f1),
        report: run.path("report.md"),
        figures: ["curves.png", "curves.svg", "confusion.png", "confusion.svg"]
            .iter()
            .map(|f| run.path(f))
            .collect(),
    })
}

/// Training on a backend, then the best epoch's model scored on every split: what the
/// training loop recorded, `(split, evaluation)` pairs, and the count of trained values.
struct TrainAndScore<'a> {
    cfg: &'a TrainConfig,
    data: &'a featurize::FeatureSet,
    run: &'a RunDir,
    resume: bool,
    log: &'a mut dyn FnMut(&str),
}

impl OnBackend for TrainAndScore<'_> {
    type Output = (Finished<trainer::EpochRecord>, Vec<(String, Evaluation)>, usize);

    fn run<B: Backend>(self, be: &B) -> Result<Self::Output> {
        let data = self.data;
        let (mut best, outcome) = trainer::train(be, self.cfg, data, self.run, self.resume, self.log)?;
        let mut evaluations = Vec::new();
        let sets = [
            ("train", Some(&data.train)),
            ("valid", Some(&data.valid)),
            ("test", data.test.as_ref()),
        ];
        for (name, m) in sets {
            if let Some(m) = m {
                let (loss, _, predicted) = trainer::evaluate(be, &mut best, m, data.dim)?;
                evaluations.push((name.to_string(), evaluate(&m.y, &predicted, &data.labels, loss)));
            }
        }
        Ok((outcome, evaluations, best.trainable_count()))
    }
}
