//! `tsumugi bench qa`: the article's feature loop for one question (five pairs through a
//! LUKE-base-sized multiple-choice model, `hidden_states[-2]`, padded mean) against
//! transformers (`tools/peers/qa_features_peer.py`, which writes the random checkpoint both
//! sides load), and one training epoch of the CNN-on-LUKE article's CNN (`qa train --preset
//! article`'s network: 24×32 images, 32 and 64 channels, fc1 128, AdamW) over random 768-value
//! features in batches of 100 in order, here and in the PyTorch peer (`tools/peers/qa_peer.py`),
//! epochs alternating ([`super::served_peer`]); with `--device cuda` both sides train the CNN on
//! the GPU. The values do not matter for the time; both sides draw their own.

use super::served_peer::{alternate, Paired, ServedPeer};
use super::{max_delta_against, side_by_side, Timing};
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::json::read_json;
use crate::luke::batch::Batch;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::tokenizer::Encoding;
use crate::models::device_params::Adam;
use crate::models::qa_head::{HeadConfig, QaHead};
use crate::tasks::qa::features::{pool_question, Pool};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchQa {
    pub questions: usize,
    pub repeats: usize,
    /// Python and the peer script, or none for tsumugi alone.
    pub peer: Option<(String, std::path::PathBuf)>,
    pub threads: usize,
    /// Where both sides run: the CNN's epoch and LUKE's features.
    pub device: Device,
}

pub struct QaResult {
    pub ours: Timing,
    pub peer: Option<Paired>,
}

/// The feature loop's timings and how far tsumugi's features are from the peer's.
pub struct FeaturesResult {
    pub paired: Paired,
    pub max_delta: f32,
}

/// Five (question, choice) pairs of 36–44 synthetic tokens, padded together, as a
/// JCommonsenseQA question gives them.
fn question_pairs(vocab: usize) -> Vec<Encoding> {
    [40, 36, 44, 38, 42]
        .iter()
        .enumerate()
        .map(|(k, &len)| {
            let mut ids: Vec<u32> = (0..len)
                .map(|i| 4 + ((i * 7919 + k * 31) % (vocab - 6)) as u32)
                .collect();
            ids[0] = 0;
            ids[len - 1] = 2;
            Encoding {
                input_ids: ids,
                ..Default::default()
            }
        })
        .collect()
}

/// The article's features for one question: `hidden_states[-2]` of choice 0's pair padded to
/// the longest of the five, averaged over every position. Returns the seconds and the 768
/// values.
fn question_features<B: Backend>(be: &B, ckpt: &LukeCheckpoint<B>, pairs: &[Encoding]) -> Result<(f64, Vec<f32>)> {
    let began = Instant::now();
    // as `qa features --choices first` runs it: choice 0's pair, padded to the longest
    let longest = pairs.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
    let batch = Batch::padded_to(&[&pairs[0]], 1, 0, longest);
    let layers = ckpt.model.config.num_hidden_layers;
    let h = ckpt.model.config.hidden_size;
    let hidden = ckpt.model.word_hidden_at(be, &batch, layers - 1)?;
    let x = pool_question(&hidden, batch.words, h, pairs, Pool::PaddedMean, 1);
    Ok((began.elapsed().as_secs_f64(), x))
}

/// The feature case against the transformers peer, which writes the random checkpoint; both
/// on the device `b` names.
pub fn run_features(b: &BenchQa, python: &str, script: &Path) -> Result<FeaturesResult> {
    crate::compute::dispatch::check(b.device)?;
    on_device(b.device, Features { b, python, script })
}

/// The feature case on a backend.
struct Features<'a> {
    b: &'a BenchQa,
    python: &'a str,
    script: &'a Path,
}

impl OnBackend for Features<'_> {
    type Output = FeaturesResult;

    fn run<B: Backend>(self, be: &B) -> Result<FeaturesResult> {
        features_on(be, self.b, self.python, self.script)
    }
}

fn features_on<B: Backend>(be: &B, b: &BenchQa, python: &str, script: &Path) -> Result<FeaturesResult> {
    let dir = tempfile::tempdir()?;
    let pairs = question_pairs(32770);
    let words = pairs.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
    // padded as transformers' tokenizer pads: pad id 1, mask 0
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for e in &pairs {
        let mut row = e.input_ids.clone();
        row.resize(words, 1);
        ids.push(row);
        mask.push((0..words).map(|i| u32::from(i < e.input_ids.len())).collect::<Vec<_>>());
    }
    let json = serde_json::json!({ "input_ids": ids, "attention_mask": mask });
    let inputs = dir.path().join("inputs.json");
    std::fs::write(&inputs, json.to_string())?;
    let mut args = vec![
        "--out".to_string(),
        dir.path().display().to_string(),
        "--inputs".into(),
        inputs.display().to_string(),
        "--threads".into(),
        b.threads.to_string(),
    ];
    if b.device == Device::Cuda {
        args.extend(["--device".to_string(), "cuda".to_string()]);
    }
    let mut peer = ServedPeer::start(python, script, &args)?;
    let ckpt = LukeCheckpoint::load(be, dir.path())?;
    let (_, ours) = question_features(be, &ckpt, &pairs)?; // warm-up
    let source = dir.path().join("reference.json");
    let max_delta = max_delta_against(&read_json(&source)?, "features", &ours, &source)?;
    let paired = alternate(b.repeats, &mut peer, "features", || {
        Ok(question_features(be, &ckpt, &pairs)?.0)
    })?;
    Ok(FeaturesResult { paired, max_delta })
}

const BATCH: usize = 100;

/// One epoch: a step per batch of 100 (a last batch of one left out), the loss read after
/// each, as `qa train` does.
fn epoch<B: Backend>(be: &B, head: &mut QaHead<B>, x: &[f32], labels: &[u32]) -> Result<f64> {
    be.sync()?;
    let began = Instant::now();
    let n = labels.len();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        if end - start < 2 {
            continue;
        }
        let ids = be.upload_ids(&labels[start..end])?;
        let features = be.upload(&x[start * 768..end * 768])?;
        let (loss, _) = head.forward_backward(be, &features, &ids, end - start)?;
        be.read_loss(&loss)?;
        head.adam_step(
            be,
            1e-3,
            Adam {
                weight_decay: 0.01,
                ..Adam::default()
            },
        )?;
    }
    be.sync()?;
    Ok(began.elapsed().as_secs_f64())
}

pub fn run(b: &BenchQa) -> Result<QaResult> {
    if b.repeats == 0 || b.questions < 2 {
        bail!("--repeats must be positive and --questions at least 2");
    }
    on_device(b.device, CnnEpochs { b })
}

/// The CNN case on a backend.
struct CnnEpochs<'a> {
    b: &'a BenchQa,
}

impl OnBackend for CnnEpochs<'_> {
    type Output = QaResult;

    fn run<B: Backend>(self, be: &B) -> Result<QaResult> {
        let b = self.b;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let x: Vec<f32> = (0..b.questions * 768).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let labels: Vec<u32> = (0..b.questions).map(|_| rng.gen_range(0..5)).collect();
        let cfg = HeadConfig::article();
        let mut head = QaHead::upload(be, &cfg, &QaHead::<B>::init(&cfg, 0)?)?;
        epoch(be, &mut head, &x, &labels)?; // warm-up, as the peer does
        let mut ours = || epoch(be, &mut head, &x, &labels);
        Ok(match &b.peer {
            Some((python, script)) => {
                let mut args = vec![
                    "--questions".to_string(),
                    b.questions.to_string(),
                    "--threads".into(),
                    b.threads.to_string(),
                ];
                if b.device == Device::Cuda {
                    args.extend(["--device".to_string(), "cuda".to_string()]);
                }
                let mut peer = ServedPeer::start(python, script, &args)?;
                let paired = alternate(b.repeats, &mut peer, "cnn", &mut ours)?;
                QaResult {
                    ours: Timing::of(paired.ours.clone()),
                    peer: Some(paired),
                }
            }
            None => QaResult {
                ours: Timing::of((0..b.repeats).map(|_| ours()).collect::<Result<Vec<_>>>()?),
                peer: None,
            },
        })
    }
}

/// The feature case's line.
pub fn features_summary(r: &FeaturesResult) -> String {
    format!(
        "features of one question (five pairs of 36–44 tokens, LUKE-base-sized multiple-choice model, hidden_states[-2], padded mean; tsumugi runs choice 0's pair only):\n{}; features vs transformers: max |Δ| {:.2e}\n",
        side_by_side(&Timing::of(r.paired.ours.clone()), Some(&r.paired), "transformers", 4),
        r.max_delta
    )
}

/// The CNN case's line.
pub fn summary(b: &BenchQa, r: &QaResult) -> String {
    format!(
        "one training epoch of the article's CNN on the {} over {} questions (768 features as 24×32, batch 100, AdamW):\n{}\n",
        if b.device == Device::Cuda { "cuda" } else { "cpu" },
        b.questions,
        side_by_side(&r.ours, r.peer.as_ref(), "PyTorch", 2)
    )
}
