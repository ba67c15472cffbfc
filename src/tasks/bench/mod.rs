//! `tsumugi bench …`: tsumugi and its peer (PyTorch, transformers) timed side by side in one
//! command. One file per benchmark; here, what they share: a timing's min / median / max, and
//! how a one-shot peer script is run and read.

pub mod classify;
pub mod finetune;
pub mod gemm;
pub mod lstm;
pub mod luke;
pub mod qa;
pub mod served_peer;
pub mod vectors;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;

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

/// `tsumugi M s (min a, max b)` and, with the peer's pairs, `; NAME M s (min a, max b); the
/// ratio line`, at `digits` decimals.
pub fn side_by_side(ours: &Timing, peer: Option<&served_peer::Paired>, name: &str, digits: usize) -> String {
    let d = digits;
    let mut line = format!(
        "tsumugi {:.d$} s (min {:.d$}, max {:.d$})",
        ours.median, ours.min, ours.max
    );
    if let Some(p) = peer {
        let t = Timing::of(p.peer.clone());
        line.push_str(&format!(
            "; {name} {:.d$} s (min {:.d$}, max {:.d$}); {}",
            t.median,
            t.min,
            t.max,
            p.ratio_line(name)
        ));
    }
    line
}

/// The largest |ours − theirs| against the peer's `reference[key]` (a JSON array of numbers,
/// as the peers write their outputs); a length that differs is an error naming `source`.
pub fn max_delta_against(reference: &serde_json::Value, key: &str, ours: &[f32], source: &Path) -> Result<f32> {
    let theirs: Vec<f32> = reference[key]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).map(|v| v as f32).collect())
        .unwrap_or_default();
    if theirs.len() != ours.len() {
        bail!(
            "{}: {key} has {} values, tsumugi {}",
            source.display(),
            theirs.len(),
            ours.len()
        );
    }
    Ok(ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max))
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
