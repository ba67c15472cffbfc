//! The one epoch loop every experiment trains through (`classify train`, `lm train`, and the
//! experiments to come). An experiment supplies its epoch (steps and evaluation), how it saves
//! and restores its weights, and its log line; the loop owns everything else:
//!
//! - the learning rate of each epoch, from a [`Schedule`] whose state is saved with the run;
//! - `metrics.jsonl`, one line per epoch, truncated to the checkpoint's epoch on `--resume`;
//! - `checkpoints/best.safetensors` at the lowest validation loss and `checkpoints/last.safetensors`
//!   after every epoch, both with the same metadata keys;
//! - early stopping, and a stop on any error that names the checkpoint that survives;
//! - the crash-test hook, `TSUMUGI_CRASH_IN_EPOCH=N`.
//!
//! Epochs are counted from 1 everywhere: in records, checkpoints, messages and the hook.
//! Every epoch's randomness must come from (seed, epoch) alone, so that a resumed run gives
//! what an uninterrupted one gives; the loop does not hold an RNG, each experiment does.

use super::checkpoint::TensorFile;
use super::early_stop::EarlyStop;
use super::schedule::{Schedule, ScheduleState};
use super::stop;
use crate::report::run_dir::{Existing, RunDir};
use anyhow::{anyhow, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one epoch gave: the line for `metrics.jsonl`, and the validation loss that chooses the
/// best epoch and drives the schedule and early stopping.
pub struct Epoch<R> {
    pub record: R,
    pub valid_loss: f64,
}

/// An experiment, as the loop sees it.
pub trait Experiment {
    /// One line of `metrics.jsonl`.
    type Record: Serialize + DeserializeOwned;

    /// The validation loss of a record read back from `metrics.jsonl` (early stopping looks at
    /// the whole history, resumed epochs included).
    fn valid_loss(record: &Self::Record) -> f64;

    /// Trains epoch `epoch` (from 1) at `lr` and evaluates it. Calls `crash.check(done, total)`
    /// before each step. A non-finite loss is an error naming the epoch and step
    /// ([`stop::message`]); the loop adds which checkpoint survives.
    fn epoch(&mut self, epoch: usize, lr: f32, crash: &Crash) -> Result<Epoch<Self::Record>>;

    /// Writes the current weights, with optimizer state where there is any, and `meta`.
    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()>;

    /// Takes weights and optimizer state from the last checkpoint of the run being resumed.
    fn restore(&mut self, file: TensorFile) -> Result<()>;

    /// Why the validation loss of the epoch just run is not finite, as a clause for the stop
    /// message (`; the last step … left non-finite values in `fc.weight``), or nothing.
    fn why_not_finite(&mut self) -> Result<String> {
        Ok(String::new())
    }

    /// The line printed after `record`, which took `seconds`.
    fn describe(&self, record: &Self::Record, seconds: f64) -> String;
}

/// How a run trains, as far as the loop is concerned.
pub struct Plan {
    pub epochs: usize,
    pub lr: f32,
    pub schedule: Schedule,
    pub early_stop: EarlyStop,
    /// Saved into every checkpoint's metadata besides the loop's own keys (the model's shape,
    /// the seed).
    pub meta: serde_json::Value,
}

/// Where a resumed run picks up, read from `checkpoints/last.safetensors`.
pub struct ResumePoint {
    file: TensorFile,
    /// The last completed epoch.
    pub epoch: usize,
    best_epoch: usize,
    best_valid_loss: f64,
    schedule: Saved,
}

/// The schedule state as a checkpoint holds it.
enum Saved {
    /// For the epoch after the checkpoint's (`next_schedule`, written by this loop).
    Next(ScheduleState),
    /// For the checkpoint's own epoch (`schedule`, written by `classify train` before this loop
    /// existed): advanced once on resume.
    Current(ScheduleState),
}

impl ResumePoint {
    /// Reads the checkpoint `last` and its metadata: nothing is written, so a run can check
    /// this before touching its directory.
    pub fn read(last: &Path) -> Result<Self> {
        if !last.exists() {
            anyhow::bail!("{}: no completed epoch to resume from", last.display());
        }
        let file = TensorFile::read(last)?;
        let meta = file.meta.clone().unwrap_or_default();
        let number = |k: &str| {
            meta.get(k)
                .and_then(|v| v.as_f64())
                .ok_or_else(|| anyhow!("{}: metadata lacks `{k}`", last.display()))
        };
        let epoch = number("epoch")? as usize;
        let best_epoch = number("best_epoch")? as usize;
        // `best_loss` and `lr`: language-model checkpoints written before this loop existed
        let best_valid_loss = number("best_valid_loss").or_else(|_| number("best_loss"))?;
        let state = |k: &str| -> Result<Option<ScheduleState>> {
            meta.get(k)
                .map(|v| serde_json::from_value(v.clone()).with_context(|| format!("{}: `{k}`", last.display())))
                .transpose()
        };
        let schedule = if let Some(s) = state("next_schedule")? {
            Saved::Next(s)
        } else if let Some(s) = state("schedule")? {
            Saved::Current(s)
        } else {
            Saved::Next(ScheduleState {
                lr: number("lr")? as f32,
                best: Some(best_valid_loss),
                bad_epochs: 0,
            })
        };
        Ok(Self {
            file,
            epoch,
            best_epoch,
            best_valid_loss,
            schedule,
        })
    }
}

/// A run's options as given and as saved: a new run takes `config`; `--resume` reads the run's
/// own `config.json` (returned second, for [`resume_point`]) and uses `config` only where
/// options were typed again. Nothing is written.
pub fn run_options<T: DeserializeOwned + Clone>(
    config: Option<&T>,
    out: &Path,
    existing: Existing,
) -> Result<(T, Option<T>)> {
    RunDir::check(out, existing)?;
    let saved: Option<T> = match existing {
        Existing::Resume => Some(crate::data::json::read_json(&out.join("config.json"))?),
        _ => None,
    };
    let given = match (config, &saved) {
        (Some(cfg), _) => cfg.clone(),
        (None, Some(saved)) => saved.clone(),
        (None, None) => anyhow::bail!("a new run needs its options"),
    };
    Ok((given, saved))
}

/// Where a resumed run picks up: its last checkpoint, once the options `now` (resolved from
/// what was typed) are checked against those it was `saved` with. `None` for a new run.
pub fn resume_point<T: Serialize + PartialEq>(out: &Path, saved: Option<&T>, now: &T) -> Result<Option<ResumePoint>> {
    match saved {
        Some(saved) => {
            same_options(out, saved, now, "")?;
            Ok(Some(ResumePoint::read(
                &out.join("checkpoints").join("last.safetensors"),
            )?))
        }
        None => Ok(None),
    }
}

/// Refuses to resume the run in `dir` with options other than those it was started with
/// (`saved`), naming each that differs; `hint` ends the message.
pub fn same_options<T: Serialize + PartialEq>(dir: &Path, saved: &T, now: &T, hint: &str) -> Result<()> {
    if saved == now {
        return Ok(());
    }
    let changed = crate::data::json::differences(&serde_json::to_value(saved)?, &serde_json::to_value(now)?);
    anyhow::bail!(
        "{}: the options differ from the run's config.json: {} (run → now); --resume continues with the run's own options, so type none or the same{hint}",
        dir.display(),
        changed.join(", ")
    )
}

/// The crash-test hook: with `TSUMUGI_CRASH_IN_EPOCH=N`, the process aborts (no unwinding, no
/// flushing — what `kill -9` does) halfway through epoch N, so tests can check that `--resume`
/// reproduces an uninterrupted run.
pub struct Crash {
    armed: bool,
}

impl Crash {
    fn for_epoch(epoch: usize) -> Self {
        let n: Option<usize> = std::env::var("TSUMUGI_CRASH_IN_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok());
        Self {
            armed: n == Some(epoch),
        }
    }

    /// Called before each step with the steps done and the steps the epoch will take.
    pub fn check(&self, done: usize, total: usize) {
        if self.armed && done == total / 2 {
            std::process::abort();
        }
    }
}

/// What the loop leaves: the history (resumed epochs included), the best epoch and where its
/// weights are.
pub struct Finished<R> {
    pub history: Vec<R>,
    pub best_epoch: usize,
    pub best_valid_loss: f64,
    pub best_path: PathBuf,
    /// Why training ended before its last epoch, if it did.
    pub stopped_early: Option<String>,
}

/// Trains `exp` for `plan.epochs` epochs into `run`, from `resume` where given.
/// What [`train`] takes besides the experiment, in one value: work handed to
/// `compute::dispatch::on_device` carries it to where the experiment is built on its backend.
pub struct Session<'a> {
    pub plan: &'a Plan,
    pub run: &'a RunDir,
    pub resume: Option<ResumePoint>,
    pub log: &'a mut dyn FnMut(&str),
}

impl Session<'_> {
    /// [`train`] with this session's plan, run, resume point and log.
    pub fn train<E: Experiment>(self, exp: &mut E) -> Result<Finished<E::Record>> {
        train(exp, self.plan, self.run, self.resume, self.log)
    }
}

pub fn train<E: Experiment>(
    exp: &mut E,
    plan: &Plan,
    run: &RunDir,
    resume: Option<ResumePoint>,
    log: &mut dyn FnMut(&str),
) -> Result<Finished<E::Record>> {
    let last_path = run.checkpoint("last.safetensors");
    let best_path = run.checkpoint("best.safetensors");
    let mut history: Vec<E::Record> = Vec::new();
    let mut valid_losses: Vec<f64> = Vec::new();
    let (mut best_epoch, mut best_valid_loss) = (0, f64::INFINITY);
    let mut schedule = plan.schedule.start(plan.lr);
    let mut done = 0;
    match resume {
        Some(point) => {
            exp.restore(point.file)
                .with_context(|| format!("resuming from {}", last_path.display()))?;
            done = point.epoch;
            (best_epoch, best_valid_loss) = (point.best_epoch, point.best_valid_loss);
            for value in run.truncate_metrics(done)? {
                history.push(serde_json::from_value(value).context("metrics.jsonl line")?);
            }
            valid_losses = history.iter().map(E::valid_loss).collect();
            schedule = match point.schedule {
                Saved::Next(s) => s,
                Saved::Current(mut s) => {
                    plan.schedule
                        .advance(&mut s, plan.lr, done, valid_losses.last().copied());
                    s
                }
            };
            log(&format!(
                "resuming after epoch {done} (lr {}) from {}",
                stop::readable(schedule.lr),
                last_path.display()
            ));
        }
        None => {
            let _ = std::fs::remove_file(run.path("metrics.jsonl"));
            plan.schedule.advance(&mut schedule, plan.lr, 0, None);
        }
    }
    let mut stopped_early = None;
    if done > 0 && plan.early_stop.should_stop(&valid_losses) {
        stopped_early = Some(format!("early stopping ({}) had already triggered", plan.early_stop));
        done = plan.epochs;
    }
    for epoch in done + 1..=plan.epochs {
        let began = Instant::now();
        let lr = schedule.lr;
        let Epoch { record, valid_loss } = exp
            .epoch(epoch, lr, &Crash::for_epoch(epoch))
            .with_context(|| format!("training stopped; {}", stop::survivor(&last_path)))?;
        if !valid_loss.is_finite() {
            anyhow::bail!(
                "validation loss became {valid_loss} after epoch {epoch} (lr {}){}; {}",
                stop::readable(lr),
                exp.why_not_finite()?,
                stop::survivor(&last_path)
            );
        }
        run.append_metrics(&record)?;
        if valid_loss < best_valid_loss {
            (best_epoch, best_valid_loss) = (epoch, valid_loss);
        }
        // the lr of the next epoch is settled now, so the checkpoint holds all it needs
        plan.schedule.advance(&mut schedule, plan.lr, epoch, Some(valid_loss));
        let mut meta = plan.meta.clone();
        meta["epoch"] = epoch.into();
        meta["best_epoch"] = best_epoch.into();
        meta["best_valid_loss"] = best_valid_loss.into();
        meta["next_schedule"] = serde_json::to_value(schedule)?;
        if best_epoch == epoch {
            exp.save(&best_path, meta.clone())?;
        }
        exp.save(&last_path, meta)?;
        log(&exp.describe(&record, began.elapsed().as_secs_f64()));
        history.push(record);
        valid_losses.push(valid_loss);
        if plan.early_stop.should_stop(&valid_losses) {
            stopped_early = Some(format!("early stopping after epoch {epoch} ({})", plan.early_stop));
            break;
        }
    }
    if history.is_empty() {
        anyhow::bail!("no epoch was trained");
    }
    Ok(Finished {
        history,
        best_epoch,
        best_valid_loss,
        best_path,
        stopped_early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run_dir::Existing;

    /// An experiment whose validation loss is NaN from epoch 2 on.
    struct Diverging;

    impl Experiment for Diverging {
        type Record = usize;

        fn valid_loss(_: &usize) -> f64 {
            1.0
        }

        fn epoch(&mut self, epoch: usize, _: f32, _: &Crash) -> Result<Epoch<usize>> {
            let valid_loss = if epoch < 2 { 1.0 } else { f64::NAN };
            Ok(Epoch {
                record: epoch,
                valid_loss,
            })
        }

        fn save(&mut self, path: &Path, _: serde_json::Value) -> Result<()> {
            crate::atomic::write_atomic(path, b"weights")
        }

        fn restore(&mut self, _: TensorFile) -> Result<()> {
            Ok(())
        }

        fn why_not_finite(&mut self) -> Result<String> {
            Ok("; `w` went NaN".to_string())
        }

        fn describe(&self, _: &usize, _: f64) -> String {
            String::new()
        }
    }

    #[test]
    fn a_non_finite_validation_loss_stops_with_the_reason_and_the_surviving_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), Existing::Refuse).unwrap();
        let plan = Plan {
            epochs: 3,
            lr: 0.5,
            schedule: Schedule::Constant,
            early_stop: EarlyStop::Never,
            meta: serde_json::json!({}),
        };
        let e = train(&mut Diverging, &plan, &run, None, &mut |_| {})
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("validation loss became NaN after epoch 2 (lr 0.5); `w` went NaN"),
            "{e}"
        );
        assert!(
            e.contains("the last good checkpoint is") && e.contains("last.safetensors"),
            "{e}"
        );
        let metrics = std::fs::read_to_string(run.path("metrics.jsonl")).unwrap();
        assert_eq!(metrics, "1\n", "the NaN epoch is not recorded");
    }
}
