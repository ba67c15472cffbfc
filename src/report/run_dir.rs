//! A run directory: `config.json` (every resolved option), `metrics.jsonl` (one JSON object per
//! epoch), `checkpoints/`, figures and `report.md`.

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

/// What a command may do with a directory that already holds a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it (the default: a user's run is never replaced silently).
    Refuse,
    /// Continue it: there must be one.
    Resume,
    /// Replace it (`--overwrite`): its files go when the new run starts writing.
    Overwrite,
}

impl Existing {
    /// From a command's `--resume` and `--overwrite` flags (clap makes them exclusive).
    pub fn from_flags(resume: bool, overwrite: bool) -> Self {
        if resume {
            Existing::Resume
        } else if overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        }
    }
}

/// `path` as a run records it: absolute, so the run finds its inputs again from any folder
/// (`--resume`, `lm eval`, `qa eval --head`); as given when it cannot be resolved (the read
/// that follows names it).
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A data or vectors value as a run records it: a file or folder there is made absolute (as
/// [`absolute`]); a dataset name (r8, glove-100d, sentiment) stays as it is.
pub fn path_or_name(value: &str) -> String {
    let path = Path::new(value);
    if path.exists() {
        absolute(path).display().to_string()
    } else {
        value.to_string()
    }
}

/// The files and folders a run writes; `--overwrite` removes these and nothing else.
const RUN_ENTRIES: &[&str] = &[
    "config.json",
    "corpus.json",
    "vocab.json",
    "labels.json",
    "metrics.jsonl",
    "evaluation.json",
    "report.md",
    "curves.png",
    "curves.svg",
    "confusion.png",
    "confusion.svg",
    "perplexity.png",
    "perplexity.svg",
    "accuracy.png",
    "accuracy.svg",
    "valid_curves.png",
    "valid_curves.svg",
    "result.json",
    "done",
    "checkpoints",
    // a comparison's runs
    "runs",
    "pretrain",
];

/// Whether `root` holds a run worth keeping: one that finished an epoch (its metrics, or any
/// checkpoint), or a comparison's runs. A run that stopped in its first epoch left only its config, which the next
/// run may replace.
fn holds_a_run(root: &Path) -> bool {
    root.join("metrics.jsonl").exists()
        || root.join("runs").is_dir()
        || root.join("pretrain").is_dir()
        || std::fs::read_dir(root.join("checkpoints")).is_ok_and(|mut d| d.next().is_some())
}

/// Removes the `.NAME.tmp-PID` files a kill during an atomic write left in the run and its
/// checkpoints (nothing reads them; the renamed files they would have become are older).
fn remove_stale_temporaries(root: &Path) -> Result<()> {
    for dir in [root.to_path_buf(), root.join("checkpoints")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") && entry.path().is_file() {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("removing the stale {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

impl RunDir {
    /// Checks `root` against `existing` without writing anything: call it before the inputs
    /// are read, so a refused run costs the user nothing.
    pub fn check(root: &Path, existing: Existing) -> Result<()> {
        let held = holds_a_run(root);
        match existing {
            Existing::Refuse if held => bail!(
                "{}: a run is already there; continue it with --resume, or replace it with --overwrite",
                root.display()
            ),
            Existing::Resume if !held => bail!(
                "{}: no run to resume there (no metrics.jsonl or checkpoint)",
                root.display()
            ),
            _ => Ok(()),
        }
    }

    /// Creates the run directory (checked again, as [`RunDir::check`]); with
    /// [`Existing::Overwrite`] the old run's files are removed first. Call it once the inputs
    /// have been read and checked.
    pub fn create(root: &Path, existing: Existing) -> Result<Self> {
        Self::check(root, existing)?;
        if existing == Existing::Overwrite {
            for name in RUN_ENTRIES {
                let path = root.join(name);
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else if path.exists() {
                    std::fs::remove_file(&path)
                } else {
                    Ok(())
                };
                removed.with_context(|| format!("--overwrite: removing {}", path.display()))?;
            }
        }
        if existing == Existing::Resume {
            remove_stale_temporaries(root)?;
        }
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
    /// that is older than the last line written). Only the last line may be unreadable (a kill
    /// cut it short) and is then dropped; an unreadable line before it is an error naming it,
    /// since dropping it and what follows would lose good history.
    pub fn truncate_metrics(&self, epoch: usize) -> Result<Vec<serde_json::Value>> {
        let path = self.path("metrics.jsonl");
        // A missing file is an empty history (the kill came before the first epoch ended); an
        // unreadable one is an error, never read as empty, which would erase it below.
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                anyhow!(
                    "{}: not UTF-8 text (byte {}); mend or remove it, then --resume again",
                    path.display(),
                    e.utf8_error().valid_up_to()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
        let mut kept = Vec::new();
        let mut out = String::new();
        for (k, &(i, line)) in lines.iter().enumerate() {
            let value = match serde_json::from_str::<serde_json::Value>(line) {
                Ok(value) => value,
                Err(_) if k + 1 == lines.len() => {
                    eprintln!(
                        "tsumugi: {}:{}: dropping an incomplete last line",
                        path.display(),
                        i + 1
                    );
                    break;
                }
                Err(e) => bail!(
                    "{}:{}: not a metrics line ({e}), and not the last line; mend or remove it, then --resume again",
                    path.display(),
                    i + 1
                ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with_metrics(text: &str) -> (tempfile::TempDir, RunDir) {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), Existing::Refuse).unwrap();
        std::fs::write(run.path("metrics.jsonl"), text).unwrap();
        (dir, run)
    }

    #[test]
    fn only_a_cut_off_last_line_is_dropped_on_resume() {
        let (_d, run) = run_with_metrics("{\"epoch\":1}\n{\"epoch\":2}\n{\"epo");
        assert_eq!(run.truncate_metrics(5).unwrap().len(), 2);
        let (_d, run) = run_with_metrics("{\"epoch\":1}\ngarbage\n{\"epoch\":2}\n{\"epoch\":3}\n");
        let e = run.truncate_metrics(5).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl:2") && e.contains("not the last line"), "{e}");
        let kept = std::fs::read_to_string(run.path("metrics.jsonl")).unwrap();
        assert_eq!(kept.lines().count(), 4, "a refused resume leaves the file as it was");
        let (_d, run) = run_with_metrics("{\"epoch\":1}\n{\"epoch\":2}\n{\"epoch\":3}\n");
        assert_eq!(run.truncate_metrics(2).unwrap().len(), 2);
    }

    #[test]
    fn a_metrics_file_that_is_not_utf8_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), Existing::Refuse).unwrap();
        let bytes = b"{\"epoch\":1}\n{\"epoch\":2,\"note\":\"\xff\"}\n";
        std::fs::write(run.path("metrics.jsonl"), bytes).unwrap();
        let e = run.truncate_metrics(5).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl") && e.contains("not UTF-8"), "{e}");
        assert_eq!(std::fs::read(run.path("metrics.jsonl")).unwrap(), bytes, "history kept");
        std::fs::remove_file(run.path("metrics.jsonl")).unwrap();
        assert!(run.truncate_metrics(5).unwrap().is_empty(), "no file is no history");
    }

    #[test]
    fn an_existing_run_is_refused_unless_resumed_or_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        let e = RunDir::check(&root, Existing::Resume).unwrap_err().to_string();
        assert!(e.contains("no run to resume"), "{e}");
        let run = RunDir::create(&root, Existing::Refuse).unwrap();
        run.write_json("config.json", &1).unwrap();
        assert!(
            RunDir::check(&root, Existing::Refuse).is_ok(),
            "a config alone is no finished epoch"
        );
        run.append_metrics(&serde_json::json!({"epoch": 1})).unwrap();
        std::fs::write(root.join("notes.txt"), "mine").unwrap();
        let e = RunDir::create(&root, Existing::Refuse).unwrap_err().to_string();
        assert!(e.contains("--resume") && e.contains("--overwrite"), "{e}");
        assert!(RunDir::check(&root, Existing::Resume).is_ok());
        // a kill during a checkpoint write left a temporary: resuming removes it
        let stale = root.join("checkpoints/.last.safetensors.tmp-12345");
        std::fs::write(&stale, "half").unwrap();
        RunDir::create(&root, Existing::Resume).unwrap();
        assert!(!stale.exists());
        assert!(root.join("config.json").exists());
        RunDir::create(&root, Existing::Overwrite).unwrap();
        assert!(!root.join("config.json").exists());
        assert_eq!(std::fs::read_to_string(root.join("notes.txt")).unwrap(), "mine");
    }
}
