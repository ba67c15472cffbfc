//! A run directory: `config.json` (every resolved option), `metrics.jsonl` (one JSON object per
//! epoch), `checkpoints/`, figures and `report.md`.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root.join("checkpoints"))
            .with_context(|| format!("creating run directory {}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(name)
    }

    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value)? + "\n";
        crate::atomic::write_atomic(&self.path(name), text.as_bytes())
    }

    /// Appends one line to `metrics.jsonl` and flushes it to disk.
    pub fn append_metrics(&self, record: &impl Serialize) -> Result<()> {
        let path = self.path("metrics.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(record)?)?;
        file.sync_data()?;
        Ok(())
    }

    /// Keeps only the metric lines of epochs `1..=epoch` (used when resuming from a checkpoint
    /// that is older than the last line written).
    pub fn truncate_metrics(&self, epoch: usize) -> Result<Vec<serde_json::Value>> {
        let path = self.path("metrics.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut kept = Vec::new();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                // a line cut short by a kill is dropped with everything after it
                eprintln!("tsumugi: {}:{}: dropping an incomplete line", path.display(), i + 1);
                break;
            };
            if value["epoch"].as_u64().is_some_and(|e| e as usize <= epoch) {
                out.push_str(line);
                out.push('\n');
                kept.push(value);
            }
        }
        crate::atomic::write_atomic(&path, out.as_bytes())?;
        Ok(kept)
    }
}
