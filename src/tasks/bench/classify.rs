//! `tsumugi bench classify`: one training epoch over 10,672 × 300 features (the size of the
//! news training set), single-layer at batch 1 and MLP+BatchNorm at batch 64, timed here and in
//! the PyTorch peer (`tools/peers/classify_peer.py`) in the same command, with ratios.

use super::{flag_args, peer_seconds, run_peer, Timing};
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::models::classifier::{Arch, Classifier, ModelSpec};
use crate::tasks::classify::config::TrainConfig;
use crate::tasks::classify::featurize::Matrix;
use crate::tasks::classify::trainer::train_epoch;
use anyhow::Result;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

pub const CLASSES: usize = 4;

/// The cases both sides run, named as the peer script names them.
pub fn cases() -> Vec<(&'static str, Arch, usize, f32)> {
    vec![
        ("slp_batch1", Arch::Slp, 1, 0.1),
        (
            "mlp_bn_batch64",
            Arch::Mlp {
                hidden: vec![200],
                batch_norm: true,
                dropout: 0.0,
            },
            64,
            0.1,
        ),
    ]
}

/// Seeded synthetic features whose labels a linear model can learn.
pub fn synthetic(rows: usize, dim: usize, seed: u64) -> Matrix {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let x: Vec<f32> = (0..rows * dim).map(|_| normal.sample(&mut rng)).collect();
    let w: Vec<f32> = (0..dim * CLASSES).map(|_| normal.sample(&mut rng)).collect();
    let y = x
        .chunks_exact(dim)
        .map(|row| {
            let scores: Vec<f32> = (0..CLASSES)
                .map(|c| row.iter().zip(&w[c * dim..(c + 1) * dim]).map(|(a, b)| a * b).sum())
                .collect();
            crate::train::metrics::argmax_rows(&scores, CLASSES)[0]
        })
        .collect();
    Matrix { x, y, rows }
}

#[derive(Debug, Serialize)]
pub struct BenchRow {
    pub case: String,
    pub steps: usize,
    pub tsumugi: Timing,
    pub pytorch: Option<Timing>,
    /// PyTorch median / tsumugi median: how many times faster tsumugi is.
    pub speedup: Option<f64>,
}

/// Times `repeats` epochs of each case in this process, on `device` (each batch uploaded from
/// the host, as the peer moves each batch to its device).
pub fn time_tsumugi(rows: usize, dim: usize, repeats: usize, device: Device) -> Result<Vec<(String, usize, Timing)>> {
    on_device(device, Epochs { rows, dim, repeats })
}

struct Epochs {
    rows: usize,
    dim: usize,
    repeats: usize,
}

impl OnBackend for Epochs {
    type Output = Vec<(String, usize, Timing)>;

    fn run<B: Backend>(self, be: &B) -> Result<Self::Output> {
        let Epochs { rows, dim, repeats } = self;
        let data = synthetic(rows, dim, 0);
        let mut out = Vec::new();
        for (name, arch, batch, lr) in cases() {
            let cfg = TrainConfig::plain_sgd(arch.clone(), batch, lr);
            let spec = ModelSpec {
                arch,
                input_dim: dim,
                classes: CLASSES,
            };
            let mut seconds = Vec::new();
            for r in 0..repeats {
                let mut model = Classifier::new(be, spec.clone(), r as u64)?;
                be.sync()?;
                let began = Instant::now();
                train_epoch(be, &mut model, &data, &cfg, lr, r + 1, None, |_, _, _| {})?;
                be.sync()?;
                seconds.push(began.elapsed().as_secs_f64());
            }
            out.push((name.to_string(), rows.div_ceil(batch), Timing::of(seconds)));
        }
        Ok(out)
    }
}

/// Runs the PyTorch classifier peer and returns its seconds per case.
pub fn time_peer(
    python: &str,
    script: &Path,
    rows: usize,
    dim: usize,
    repeats: usize,
    threads: usize,
    device: Device,
) -> Result<HashMap<String, Vec<f64>>> {
    let mut args = flag_args(&[
        ("--rows", rows),
        ("--dim", dim),
        ("--repeats", repeats),
        ("--threads", threads),
    ]);
    if device == Device::Cuda {
        args.extend(["--device".to_string(), "cuda".to_string()]);
    }
    let parsed = run_peer(python, script, &args)?;
    cases()
        .into_iter()
        .map(|(name, ..)| Ok((name.to_string(), peer_seconds(&parsed, name)?)))
        .collect()
}
