//! `tsumugi classify sweep-batch` (problem 77): one epoch at batch sizes 1, 2, 4, …, each from
//! the same initial weights, timed, with a table and a figure of time per epoch.

use super::config::TrainConfig;
use super::featurize::FeatureSet;
use super::trainer::{evaluate, train_epoch};
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::Backend;
use crate::models::classifier::{Classifier, ModelSpec};
use crate::report::plot::{line_panels, Panel, Series};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub batch_size: usize,
    pub seconds: f64,
    pub examples_per_second: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
}

/// Runs the sweep on `base.device`; `base` supplies model, optimizer and seed (its batch size
/// is replaced).
pub fn sweep(
    base: &TrainConfig,
    data: &FeatureSet,
    batch_sizes: &[usize],
    log: impl FnMut(&SweepRow),
) -> Result<Vec<SweepRow>> {
    on_device(
        base.device,
        Sweep {
            base,
            data,
            batch_sizes,
            log,
        },
    )
}

struct Sweep<'a, L> {
    base: &'a TrainConfig,
    data: &'a FeatureSet,
    batch_sizes: &'a [usize],
    log: L,
}

impl<L: FnMut(&SweepRow)> OnBackend for Sweep<'_, L> {
    type Output = Vec<SweepRow>;

    fn run<B: Backend>(mut self, be: &B) -> Result<Vec<SweepRow>> {
        let data = self.data;
        let spec = ModelSpec {
            arch: self.base.arch.clone(),
            input_dim: data.dim,
            classes: data.labels.len(),
        };
        let mut rows = Vec::new();
        for &batch_size in self.batch_sizes {
            let cfg = TrainConfig {
                batch_size,
                ..self.base.clone()
            };
            let mut model = Classifier::new(be, spec.clone(), cfg.seed)?;
            be.sync()?;
            let began = Instant::now();
            train_epoch(be, &mut model, &data.train, &cfg, cfg.lr, 1, None, |_, _, _| {})?;
            be.sync()?;
            let seconds = began.elapsed().as_secs_f64();
            let (train_loss, train_accuracy, _) = evaluate(be, &mut model, &data.train, data.dim)?;
            let (valid_loss, valid_accuracy, _) = evaluate(be, &mut model, &data.valid, data.dim)?;
            let row = SweepRow {
                batch_size,
                seconds,
                examples_per_second: data.train.rows as f64 / seconds,
                train_loss,
                train_accuracy,
                valid_loss,
                valid_accuracy,
            };
            (self.log)(&row);
            rows.push(row);
        }
        Ok(rows)
    }
}

pub fn figure(stem: &Path, rows: &[SweepRow]) -> Result<()> {
    let panels = [Panel {
        title: "one training epoch".into(),
        x_label: "batch size".into(),
        y_label: "seconds".into(),
        series: vec![Series {
            name: "tsumugi".into(),
            points: rows.iter().map(|r| (r.batch_size as f64, r.seconds)).collect(),
            errors: Vec::new(),
        }],
        log_x: true,
        marker: None,
    }];
    line_panels(stem, &panels)
}

pub fn markdown(rows: &[SweepRow]) -> String {
    let mut md = String::from("| batch | seconds | examples/s | train loss | train acc | valid loss | valid acc |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        md.push_str(&format!(
            "| {} | {:.4} | {:.0} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            r.batch_size,
            r.seconds,
            r.examples_per_second,
            r.train_loss,
            r.train_accuracy,
            r.valid_loss,
            r.valid_accuracy
        ));
    }
    md
}
