//! `tsumugi bench luke`: a LUKE-base-sized forward pass (768 hidden, 12 layers, 12 heads,
//! entity_emb_size 256; sequence 128 with 2 entity mentions) here and in transformers
//! (`tools/peers/luke_peer.py`), on the same random weights and inputs, at each batch size, the
//! two sides' forwards alternating ([`super::served_peer`]), on the CPU or (`--device cuda`)
//! on a GPU, where both sides copy the final hidden states back to the host.

use super::served_peer::{alternate, ServedPeer};
use super::{flag_args, max_delta_against, Timing};
use crate::compute::dispatch::{self, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::json::read_json;
use crate::luke::batch::Batch;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::tokenizer::Encoding;
use anyhow::{bail, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `bench luke` times, resolved.
#[derive(Debug, Clone)]
pub struct BenchLuke {
    /// Python with torch and transformers installed, for the peer (skipped with --no-peer).
    pub python: String,
    /// The transformers peer script.
    pub peer_script: PathBuf,
    /// Time only tsumugi, on the checkpoint given with --model.
    pub no_peer: bool,
    /// A LUKE checkpoint to time (with --no-peer); by default the peer writes a random one.
    pub model: Option<PathBuf>,
    /// Hidden size.
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward size.
    pub intermediate: usize,
    /// Entity embedding size.
    pub entity_emb: usize,
    /// Word tokens per sequence, <s> and </s> included.
    pub seq: usize,
    /// Batch sizes to time, comma-separated.
    pub batches: Vec<usize>,
    /// Timed forwards on each side.
    pub repeats: usize,
    /// Threads for the peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
    pub threads: usize,
    /// Where both sides run.
    pub device: Device,
}

/// `batch` synthetic sequences of `seq` tokens from a vocabulary of `vocab`, each with two
/// `[MASK]`-style entities (ids 2 and 3) mentioned at tokens 1–3 and seq/2 … seq/2+3.
fn synthetic(batch: usize, seq: usize, vocab: usize) -> Vec<Encoding> {
    (0..batch)
        .map(|b| {
            let mut ids: Vec<u32> = (0..seq)
                .map(|i| 4 + ((i * 7919 + b * 31) % (vocab - 6)) as u32)
                .collect();
            ids[0] = 0;
            ids[seq - 1] = 2;
            let mention = |s: usize, n: usize| {
                let mut p: Vec<i64> = (s..s + n).map(|x| x as i64).collect();
                p.resize(30, -1);
                p
            };
            Encoding {
                input_ids: ids,
                entity_ids: vec![2, 3],
                entity_position_ids: vec![mention(1, 3), mention(seq / 2, 4)],
                ..Default::default()
            }
        })
        .collect()
}

/// One forward of `batch` (no hidden states kept, the last ones on the host); its seconds.
fn time_forward<B: Backend>(be: &B, ckpt: &LukeCheckpoint<B>, batch: &Batch) -> Result<f64> {
    let began = Instant::now();
    ckpt.model.forward(be, batch, false)?;
    Ok(began.elapsed().as_secs_f64())
}

/// Max |Δ| between tsumugi's batch-1 outputs and the peer's `reference.json`.
fn max_delta<B: Backend>(be: &B, ckpt: &LukeCheckpoint<B>, input: &Encoding, reference: &Path) -> Result<f32> {
    let r: serde_json::Value = read_json(reference)?;
    let out = ckpt.model.forward(be, &Batch::new(&[input], 1, 0), false)?;
    let mut worst = 0f32;
    for (key, ours) in [
        ("word_last_hidden_state", &out.word_hidden),
        ("entity_last_hidden_state", &out.entity_hidden),
    ] {
        worst = worst.max(max_delta_against(&r, key, ours, reference)?);
    }
    Ok(worst)
}

pub fn run(a: &BenchLuke) -> Result<String> {
    let largest = a.batches.iter().copied().max().unwrap_or(0);
    if a.repeats == 0 || a.seq < 8 || a.batches.contains(&0) || largest == 0 {
        bail!("--repeats and every --batches entry must be positive, --seq at least 8");
    }
    dispatch::check(a.device)?;
    dispatch::on_device(a.device, Bench { a, largest })
}

/// The benchmark on the device `--device` names; `largest` of its batch sizes.
struct Bench<'a> {
    a: &'a BenchLuke,
    largest: usize,
}

impl OnBackend for Bench<'_> {
    type Output = String;

    fn run<B: Backend>(self, be: &B) -> Result<String> {
        bench_on(be, self.a, self.largest)
    }
}

fn bench_on<B: Backend>(be: &B, a: &BenchLuke, largest: usize) -> Result<String> {
    let scratch = tempfile::tempdir()?;
    let (dir, mut peer) = match (&a.model, a.no_peer) {
        (Some(dir), true) => (dir.clone(), None),
        _ => {
            let dir = scratch.path().to_path_buf();
            let peer = start_peer(a, &dir, &synthetic(largest, a.seq, 50267))?;
            (dir, Some(peer))
        }
    };
    let ckpt = LukeCheckpoint::load(be, &dir)?;
    let cfg = &ckpt.model.config;
    if a.seq > cfg.max_words() {
        bail!("--seq {} exceeds the checkpoint's {} positions", a.seq, cfg.max_words());
    }
    let inputs = synthetic(largest, a.seq, cfg.vocab_size.max(8));
    let mut report = format!(
        "LUKE forward on {}, hidden {} × {} layers, {} heads, entity_emb {}, sequence {} + 2 entities:",
        be.name(),
        cfg.hidden_size,
        cfg.num_hidden_layers,
        cfg.num_attention_heads,
        cfg.entity_emb_size,
        a.seq
    );
    for &b in &a.batches {
        let refs: Vec<&Encoding> = inputs[..b].iter().collect();
        let batch = Batch::new(&refs, 1, 0);
        time_forward(be, &ckpt, &batch)?; // warm-up
        let line = match peer.as_mut() {
            None => {
                let t = Timing::of(
                    (0..a.repeats)
                        .map(|_| time_forward(be, &ckpt, &batch))
                        .collect::<Result<_>>()?,
                );
                format!(
                    "tsumugi {:.4} / {:.4} / {:.4} s (min / median / max)",
                    t.min, t.median, t.max
                )
            }
            Some(peer) => {
                let paired = alternate(a.repeats, peer, &b.to_string(), || time_forward(be, &ckpt, &batch))?;
                let (t, p) = (Timing::of(paired.ours.clone()), Timing::of(paired.peer.clone()));
                format!(
                    "tsumugi {:.4} / {:.4} / {:.4} s (min / median / max); transformers {:.4} / {:.4} / {:.4} s; {}",
                    t.min,
                    t.median,
                    t.max,
                    p.min,
                    p.median,
                    p.max,
                    paired.ratio_line("transformers")
                )
            }
        };
        report.push_str(&format!("\n  batch {b}: {line}"));
    }
    if peer.is_some() {
        let delta = max_delta(be, &ckpt, &inputs[0], &dir.join("reference.json"))?;
        report.push_str(&format!("\n  outputs vs transformers (batch 1): max |Δ| {delta:.2e}"));
    }
    Ok(report)
}

/// Starts the peer on `inputs`; it writes its random checkpoint and reference outputs into
/// `dir` before it answers.
fn start_peer(a: &BenchLuke, dir: &Path, inputs: &[Encoding]) -> Result<ServedPeer> {
    let json = json!({
        "input_ids": inputs.iter().map(|e| &e.input_ids).collect::<Vec<_>>(),
        "entity_ids": inputs.iter().map(|e| &e.entity_ids).collect::<Vec<_>>(),
        "entity_position_ids": inputs.iter().map(|e| &e.entity_position_ids).collect::<Vec<_>>(),
    });
    let inputs_path = dir.join("inputs.json");
    std::fs::write(&inputs_path, json.to_string())?;
    let mut args = flag_args(&[
        ("--hidden", a.hidden),
        ("--layers", a.layers),
        ("--heads", a.heads),
        ("--intermediate", a.intermediate),
        ("--entity-emb", a.entity_emb),
        ("--threads", a.threads),
    ]);
    let batches: Vec<String> = a.batches.iter().map(usize::to_string).collect();
    if a.device == Device::Cuda {
        args.extend(["--device".to_string(), "cuda".to_string()]);
    }
    args.extend([
        "--out".to_string(),
        dir.display().to_string(),
        "--inputs".into(),
        inputs_path.display().to_string(),
        "--batches".into(),
        batches.join(","),
    ]);
    ServedPeer::start(&a.python, &a.peer_script, &args)
}
