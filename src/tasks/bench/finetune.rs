//! `tsumugi bench finetune`: one epoch of the fine-tuning article's classifier and one of its
//! language model (embedding 200, LSTM 512, Adam, batch 32) over the first `texts` texts of
//! `sentiment`, here and in the PyTorch peer (`tools/peers/finetune_peer.py`) in the same
//! command, the two sides' epochs alternating ([`super::served_peer`]). Both sides train on the
//! same length-bucketed batches, which tsumugi writes to a file for the peer.

use super::served_peer::{alternate, Paired, ServedPeer};
use super::{side_by_side, Timing};
use crate::compute::cpu::Cpu;
use crate::data::keras_vocab::KerasVocab;
use crate::models::lm::LstmLm;
use crate::models::lm_weights::{LanguageModel, LmConfig};
use crate::models::lstm_classifier::{ClassifierConfig, LstmClassifier, Pool};
use crate::tasks::finetune::batches::bucketed;
use crate::tasks::finetune::{data, steps};
use anyhow::{bail, Result};
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;

/// What the benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchFinetune {
    /// Whether to time the classifier epoch and the pre-training epoch.
    pub classifier: bool,
    pub pretrain: bool,
    pub texts: usize,
    pub embed: usize,
    pub hidden: usize,
    pub repeats: usize,
    /// Python and the peer script, or none for tsumugi alone.
    pub peer: Option<(String, std::path::PathBuf)>,
    pub threads: usize,
}

/// One case's timings and, with a peer, the alternating pairs.
pub struct CaseResult {
    pub case: &'static str,
    pub ours: Timing,
    pub peer: Option<Paired>,
}

/// The texts as ids, their labels and the epoch's batches.
struct Prepared {
    vocab: usize,
    ids: Vec<Vec<u32>>,
    labels: Vec<u32>,
    batches: Vec<Vec<usize>>,
}

fn prepare(texts: usize) -> Result<Prepared> {
    let task = data::load("sentiment")?;
    if texts == 0 || texts > task.pool.len() {
        bail!("--texts must be in 1..={}", task.pool.len());
    }
    let pool = &task.pool[..texts];
    let vocab = KerasVocab::fit(pool.iter().map(|t| t.example.text.as_str()), Some(10000), false)?;
    let enc = data::encode(pool, &vocab, &task.labels, 50)?;
    let lengths: Vec<usize> = enc.ids.iter().map(Vec::len).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let batches = bucketed(&lengths, 32, &mut rng);
    Ok(Prepared {
        vocab: vocab.size(),
        ids: enc.ids,
        labels: enc.labels,
        batches,
    })
}

/// One classifier epoch over the batches (the training step `finetune train` takes).
fn classifier_epoch(p: &Prepared, m: &mut LstmClassifier<Cpu>) -> Result<f64> {
    let began = Instant::now();
    for (step, batch) in p.batches.iter().enumerate() {
        let texts: Vec<&[u32]> = batch.iter().map(|&i| p.ids[i].as_slice()).collect();
        let labels: Vec<u32> = batch.iter().map(|&i| p.labels[i]).collect();
        steps::classifier_step(&Cpu, m, &texts, &labels, (0, step as u64), 1e-3)?;
    }
    Ok(began.elapsed().as_secs_f64())
}

/// One language-model epoch over the batches' texts of two or more words.
fn pretrain_epoch(p: &Prepared, m: &mut LstmLm<Cpu>) -> Result<f64> {
    let began = Instant::now();
    for (step, batch) in p.batches.iter().enumerate() {
        let texts: Vec<&[u32]> = batch
            .iter()
            .map(|&i| p.ids[i].as_slice())
            .filter(|t| t.len() >= 2)
            .collect();
        if texts.is_empty() {
            continue;
        }
        steps::lm_step(&Cpu, m, &texts, (0, step as u64), 1e-3)?;
    }
    Ok(began.elapsed().as_secs_f64())
}

pub fn run(b: &BenchFinetune) -> Result<Vec<CaseResult>> {
    if b.repeats == 0 || b.embed == 0 || b.hidden == 0 {
        bail!("--repeats, --embed and --hidden must be positive");
    }
    let p = prepare(b.texts)?;
    let cfg = ClassifierConfig {
        vocab: p.vocab,
        embed: b.embed,
        hidden: b.hidden,
        classes: 2,
        pool: Pool::Mean,
        input_dropout: 0.5,
        dropout: 0.5,
    };
    let mut clf = LstmClassifier::new(&Cpu, cfg.clone(), &cfg.init(0)?)?;
    let lm_cfg = LmConfig {
        vocab: p.vocab,
        embed: b.embed,
        hidden: b.hidden,
        layers: 1,
        dropout: 0.3,
        tied: false,
        locked_dropout: false,
        embedding_dropout: 0.0,
    };
    let mut lm = LstmLm::new(&Cpu, &LanguageModel::new(lm_cfg, 0)?)?;
    let cases: Vec<&'static str> = [("classifier", b.classifier), ("pretrain", b.pretrain)]
        .into_iter()
        .filter_map(|(case, on)| on.then_some(case))
        .collect();
    let mut epoch = |case: &str| match case {
        "classifier" => classifier_epoch(&p, &mut clf),
        _ => pretrain_epoch(&p, &mut lm),
    };
    // warm-ups, as the peer does
    for case in &cases {
        epoch(case)?;
    }
    let mut peer = match &b.peer {
        Some((python, script)) => {
            let file = tempfile::NamedTempFile::new()?;
            write_batches(file.path(), &p)?;
            let args = vec![
                "--batches".to_string(),
                file.path().display().to_string(),
                "--embed".into(),
                b.embed.to_string(),
                "--hidden".into(),
                b.hidden.to_string(),
                "--threads".into(),
                b.threads.to_string(),
            ];
            // the peer reads the file before it answers its first line
            let peer = ServedPeer::start(python, script, &args)?;
            Some((peer, file))
        }
        None => None,
    };
    let mut results = Vec::new();
    for case in cases {
        let mut ours = || epoch(case);
        let (seconds, paired) = match &mut peer {
            Some((served, _)) => {
                let paired = alternate(b.repeats, served, case, &mut ours)?;
                (paired.ours.clone(), Some(paired))
            }
            None => ((0..b.repeats).map(|_| ours()).collect::<Result<Vec<_>>>()?, None),
        };
        results.push(CaseResult {
            case,
            ours: Timing::of(seconds),
            peer: paired,
        });
    }
    Ok(results)
}

/// The batches as the peer reads them: `{"vocab", "batches": [{"texts", "labels"}]}`.
fn write_batches(path: &Path, p: &Prepared) -> Result<()> {
    let batches: Vec<serde_json::Value> = p
        .batches
        .iter()
        .map(|b| {
            serde_json::json!({
                "texts": b.iter().map(|&i| &p.ids[i]).collect::<Vec<_>>(),
                "labels": b.iter().map(|&i| p.labels[i]).collect::<Vec<_>>(),
            })
        })
        .collect();
    let spec = serde_json::json!({ "vocab": p.vocab, "batches": batches });
    std::fs::write(path, serde_json::to_vec(&spec)?)?;
    Ok(())
}

/// The lines the command prints: each case's seconds per epoch on both sides and the ratio.
pub fn summary(b: &BenchFinetune, results: &[CaseResult]) -> String {
    let mut out = format!(
        "one epoch over {} texts of `sentiment` (embedding {}, LSTM {}, Adam, batch 32):\n",
        b.texts, b.embed, b.hidden
    );
    for r in results {
        out.push_str(&format!(
            "{}: {}\n",
            r.case,
            side_by_side(&r.ours, r.peer.as_ref(), "PyTorch", 2)
        ));
    }
    out
}
