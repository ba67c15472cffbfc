//! `tsumugi lm train`: corpus → batchified streams → LSTM LM → SGD with truncated BPTT and
//! gradient clipping → perplexity per epoch, the best model by validation perplexity, test
//! perplexity, a figure and `report.md`.

use super::config::{LmDevice, LmRunConfig, LmTrainArgs, LrSchedule};
use super::engine;
use super::report::{write_report, Corpus};
use super::saved::{load_weights, save_weights, SavedRun};
use crate::data::corpus::{batchify, read_train, read_with, Vocab};
use crate::data::fetch;
use crate::nn::lm::LanguageModel;
use crate::report::run_dir::RunDir;
use crate::train::progress::EpochProgress;
use crate::train::stop;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// train / valid / test files behind `--corpus` or `--train/--valid/--test`.
fn corpus_files(args: &LmTrainArgs) -> Result<[PathBuf; 3]> {
    if let (Some(t), Some(v), Some(s)) = (&args.train, &args.valid, &args.test) {
        return Ok([t.clone(), v.clone(), s.clone()]);
    }
    let dir = if Path::new(&args.corpus).is_dir() {
        PathBuf::from(&args.corpus)
    } else if args.corpus == "ptb" {
        fetch::ensure("ptb")?
    } else {
        bail!("--corpus `{}` is neither `ptb` nor a directory", args.corpus);
    };
    let find = |split: &str| {
        [format!("ptb.{split}.txt"), format!("{split}.txt")]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| anyhow::anyhow!("{}: no ptb.{split}.txt or {split}.txt", dir.display()))
    };
    Ok([find("train")?, find("valid")?, find("test")?])
}

/// Where a resumed run picks up: the weights and state saved after its last completed epoch.
struct ResumePoint {
    model: LanguageModel,
    epoch: usize,
    lr: f32,
    best_loss: f64,
    best_epoch: usize,
}

fn resume_point(dir: &Path, cfg: &super::config::LmRunConfig, words: &[String], last: &Path) -> Result<ResumePoint> {
    let saved = SavedRun::open(dir)?;
    if saved.vocab.words != words {
        bail!(
            "{}: the run's vocabulary ({} words) differs from this corpus's ({} words); resume with the corpus it was trained on",
            dir.join("vocab.json").display(),
            saved.vocab.words.len(),
            words.len()
        );
    }
    if saved.config != *cfg {
        let changed =
            crate::data::json::differences(&serde_json::to_value(&saved.config)?, &serde_json::to_value(cfg)?);
        bail!(
            "{}: the options differ from the run's config.json: {} (run → now); resume with the same options",
            dir.display(),
            changed.join(", ")
        );
    }
    if !last.exists() {
        bail!("{}: no completed epoch to resume from", last.display());
    }
    let (model, meta) = load_weights(last, cfg)?;
    let meta = meta.unwrap_or_default();
    let field = |k: &str| {
        meta.get(k)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| anyhow::anyhow!("{}: metadata lacks `{k}`", last.display()))
    };
    Ok(ResumePoint {
        model,
        epoch: field("epoch")? as usize,
        lr: field("lr")? as f32,
        best_loss: field("best_loss")?,
        best_epoch: field("best_epoch")? as usize,
    })
}

/// Test hook: `TSUMUGI_CRASH_IN_LM_EPOCH=N` aborts the process (no unwinding, no flushing —
/// what `kill -9` does) halfway through epoch N, so tests can check `--resume`.
fn crash_hook(epoch: usize, batch: usize, batches: usize) {
    if batch == batches / 2
        && std::env::var("TSUMUGI_CRASH_IN_LM_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            == Some(epoch)
    {
        std::process::abort();
    }
}

pub fn run(args: &LmTrainArgs) -> Result<LmSummary> {
    let began = Instant::now();
    let [train_path, valid_path, test_path] = corpus_files(args)?;
    let mut vocab = Vocab::default();
    let train_ids = read_train(&train_path, &mut vocab)?;
    let valid_ids = read_with(&valid_path, &vocab)?;
    let test_ids = read_with(&test_path, &vocab)?;
    let cfg: LmRunConfig = args.resolve(vocab.len())?;
    // nothing is written until the corpus, the options and the device are checked
    RunDir::check(&args.out, args.existing())?;
    let (train, train_rows) = batchify(&train_ids, cfg.batch_size);
    if train_rows < cfg.bptt + 1 {
        bail!(
            "{}: {} tokens give {train_rows} time steps per column at batch size {}, fewer than --bptt {} + 1",
            train_path.display(),
            train_ids.len(),
            cfg.batch_size,
            cfg.bptt
        );
    }
    let (valid, valid_rows) = batchify(&valid_ids, cfg.eval_batch_size);
    let (test, test_rows) = batchify(&test_ids, cfg.eval_batch_size);
    if valid_rows < 2 || test_rows < 2 {
        bail!("valid and test need at least {} tokens each", 2 * cfg.eval_batch_size);
    }
    // everything that can fail on the inputs or the device happens before the first write:
    // the resume point is read and the engine (the GPU, where asked for) is opened first
    let last_path = args.out.join("checkpoints").join("last.safetensors");
    let resumed = if args.resume {
        Some(resume_point(&args.out, &cfg, &vocab.words, &last_path)?)
    } else {
        None
    };
    let mut lr = cfg.lr;
    let (mut best_loss, mut best_epoch) = (f64::INFINITY, 0);
    let mut first_epoch = 1;
    let (model, resumed) = match resumed {
        Some(ResumePoint {
            model,
            epoch,
            lr,
            best_loss,
            best_epoch,
        }) => (model, Some((epoch, lr, best_loss, best_epoch))),
        None => (LanguageModel::new(cfg.model.clone(), cfg.seed)?, None),
    };
    let mut engine = engine::new(&cfg, model)?;
    let run = RunDir::create(&args.out, args.existing())?;
    if resumed.is_none() {
        run.write_json("config.json", &cfg)?;
        run.write_json("vocab.json", &vocab.words)?;
        let _ = std::fs::remove_file(run.path("metrics.jsonl"));
    }
    let log = |line: &str| {
        if args.json {
            eprintln!("{line}")
        } else {
            println!("{line}")
        }
    };
    log(&format!(
        "corpus: {} / {} / {} tokens, vocabulary {}; model: {}",
        train_ids.len(),
        valid_ids.len(),
        test_ids.len(),
        vocab.len(),
        cfg.model
    ));
    let mut history: Vec<LmEpoch> = Vec::new();
    if let Some((epoch, resumed_lr, loss, best)) = resumed {
        lr = resumed_lr;
        (best_loss, best_epoch) = (loss, best);
        first_epoch = epoch + 1;
        history = run
            .truncate_metrics(epoch)?
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()?;
        log(&format!(
            "resuming after epoch {epoch} (lr {lr}) from {}",
            last_path.display()
        ));
    }
    if cfg.device != LmDevice::Cpu {
        log(&format!("device: {}", engine.device()));
    }
    let best_path = run.checkpoint("best.safetensors");
    let batches_per_epoch = (train_rows - 1).div_ceil(cfg.bptt);
    for epoch in first_epoch..=cfg.epochs {
        if let LrSchedule::Decay { start, factor } = cfg.schedule {
            lr = cfg.lr * factor.powi(epoch.saturating_sub(start - 1) as i32);
        }
        let epoch_began = Instant::now();
        engine.start_epoch(epoch)?;
        let mut progress = EpochProgress::new(epoch, cfg.epochs, batches_per_epoch as u64, "batches");
        let (mut loss_sum, mut tokens_seen) = (0.0, 0usize);
        let mut i = 0;
        let mut batch_index = 0;
        while i + 1 < train_rows && cfg.max_batches.is_none_or(|m| batch_index < m) {
            let seq = cfg.bptt.min(train_rows - 1 - i);
            let tokens = &train[i * cfg.batch_size..(i + seq) * cfg.batch_size];
            let targets = &train[(i + 1) * cfg.batch_size..(i + 1 + seq) * cfg.batch_size];
            let loss = engine.step(tokens, targets, seq, lr, cfg.clip)?;
            if !loss.is_finite() {
                let what = format!("the loss became {loss}");
                let at = stop::message(&what, epoch, batch_index + 1, lr);
                bail!("{at}; {}", stop::survivor(&last_path));
            }
            loss_sum += loss * (seq * cfg.batch_size) as f64;
            tokens_seen += seq * cfg.batch_size;
            i += seq;
            batch_index += 1;
            crash_hook(
                epoch,
                batch_index,
                cfg.max_batches.unwrap_or(batches_per_epoch).min(batches_per_epoch),
            );
            progress.update(batch_index as u64, || {
                let rate = tokens_seen as f64 / epoch_began.elapsed().as_secs_f64();
                format!("ppl {:.1}, {rate:.0} tokens/s", (loss_sum / tokens_seen as f64).exp())
            });
        }
        progress.finish();
        let train_seconds = epoch_began.elapsed().as_secs_f64();
        let valid_loss = engine.mean_loss(&valid, valid_rows, cfg.eval_batch_size, cfg.bptt)?;
        let record = LmEpoch {
            epoch,
            lr,
            train_perplexity: (loss_sum / tokens_seen.max(1) as f64).exp(),
            valid_perplexity: valid_loss.exp(),
        };
        run.append_metrics(&record)?;
        let seconds = epoch_began.elapsed().as_secs_f64();
        log(&format!(
            "epoch {epoch}: lr {lr}, train perplexity {:.2}, valid perplexity {:.2}, {seconds:.0} s (training {:.0} tokens/s)",
            record.train_perplexity,
            record.valid_perplexity,
            tokens_seen as f64 / train_seconds
        ));
        history.push(record);
        // the weights, copied back once per epoch on a GPU, serve both checkpoints
        let params = engine.params()?;
        if valid_loss < best_loss {
            best_loss = valid_loss;
            best_epoch = epoch;
            save_weights(
                &best_path,
                params,
                serde_json::json!({ "epoch": epoch, "model": cfg.model }),
            )?;
        } else if let LrSchedule::Plateau { factor } = cfg.schedule {
            lr *= factor;
        }
        // Everything the next epoch needs: weights, the lr it starts with, the best so far.
        // (SGD has no state, and each epoch's dropout stream is drawn from (seed, epoch).)
        let state = serde_json::json!({ "epoch": epoch, "lr": lr, "best_loss": best_loss, "best_epoch": best_epoch });
        save_weights(&last_path, params, state)?;
    }
    let (best, _) = load_weights(&best_path, &cfg)?;
    engine.load(best)?;
    let test_loss = engine.mean_loss(&test, test_rows, cfg.eval_batch_size, cfg.bptt)?;
    let summary = LmSummary {
        run_dir: run.root.clone(),
        best_epoch,
        valid_perplexity: best_loss.exp(),
        test_perplexity: test_loss.exp(),
        seconds: began.elapsed().as_secs_f64(),
        report: run.path("report.md"),
    };
    write_report(
        &run,
        &summary,
        &cfg,
        &history,
        Corpus {
            train: &train_path,
            train_tokens: train_ids.len(),
            valid: &valid_path,
            test: &test_path,
        },
    )?;
    Ok(summary)
}
