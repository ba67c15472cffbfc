//! `tsumugi bench classify`: one training epoch over 10,672 × 300 features (the size of the
//! news training set), single-layer at batch 1 and MLP+BatchNorm at batch 64, timed here and in
//! the PyTorch peer (`tools/peers/classify_peer.py`) in the same command, with ratios.

use super::classify::config::TrainConfig;
use super::classify::featurize::Matrix;
use super::classify::trainer::train_epoch;
use crate::nn::classifier::{Arch, Classifier, ModelSpec};
use crate::train::optim::Optimizer;
use anyhow::{bail, Context, Result};
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

#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Timing {
    pub fn of(mut seconds: Vec<f64>) -> Timing {
        seconds.sort_by(f64::total_cmp);
        Timing {
            min: seconds[0],
            median: seconds[seconds.len() / 2],
            max: seconds[seconds.len() - 1],
        }
    }
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

/// Times `repeats` epochs of each case in this process.
pub fn time_tsumugi(rows: usize, dim: usize, repeats: usize) -> Result<Vec<(String, usize, Timing)>> {
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
            let mut model = Classifier::new(spec.clone(), r as u64);
            let mut optimizer = Optimizer::new(cfg.optimizer);
            let began = Instant::now();
            train_epoch(&mut model, &mut optimizer, &data, &cfg, lr, r + 1, None, |_, _, _| {})?;
            seconds.push(began.elapsed().as_secs_f64());
        }
        out.push((name.to_string(), rows.div_ceil(batch), Timing::of(seconds)));
    }
    Ok(out)
}

/// `python script`, once the script is known to exist; both peer protocols start from it.
pub fn peer_command(python: &str, script: &Path) -> Result<std::process::Command> {
    if !script.exists() {
        bail!(
            "peer script {} not found (run from the repository root or pass --peer-script)",
            script.display()
        );
    }
    let mut command = std::process::Command::new(python);
    command.arg(script);
    Ok(command)
}

/// The context of a peer that could not be started.
pub fn cannot_run(python: &str) -> String {
    format!("running {python} (set --python to an interpreter with torch)")
}

/// `--flag value` pairs as command-line arguments.
pub fn flag_args(pairs: &[(&str, usize)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, v)| [flag.to_string(), v.to_string()])
        .collect()
}

/// Runs a PyTorch peer script and returns the JSON object it prints.
pub fn run_peer(python: &str, script: &Path, args: &[String]) -> Result<serde_json::Value> {
    let output = peer_command(python, script)?
        .args(args)
        .output()
        .with_context(|| cannot_run(python))?;
    if !output.status.success() {
        bail!("the PyTorch peer failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("the PyTorch peer printed no JSON")
}

/// The list of seconds under `key` in a peer's JSON; an error if it is missing or empty.
pub fn peer_seconds(parsed: &serde_json::Value, key: &str) -> Result<Vec<f64>> {
    let times: Vec<f64> = parsed[key]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    if times.is_empty() {
        bail!("the PyTorch peer gave no timing for {key}");
    }
    Ok(times)
}

/// Runs the PyTorch classifier peer and returns its seconds per case.
pub fn time_peer(
    python: &str,
    script: &Path,
    rows: usize,
    dim: usize,
    repeats: usize,
    threads: usize,
) -> Result<HashMap<String, Vec<f64>>> {
    let args = flag_args(&[
        ("--rows", rows),
        ("--dim", dim),
        ("--repeats", repeats),
        ("--threads", threads),
    ]);
    let parsed = run_peer(python, script, &args)?;
    cases()
        .into_iter()
        .map(|(name, ..)| Ok((name.to_string(), peer_seconds(&parsed, name)?)))
        .collect()
}
