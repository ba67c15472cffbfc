//! `tsumugi bench qa`: one training epoch of the CNN-on-LUKE article's CNN (`qa train --preset
//! article`'s network: 24×32 images, 32 and 64 channels, fc1 128, AdamW) over random 768-value
//! features in batches of 100 in order, here and in the PyTorch peer (`tools/peers/qa_peer.py`),
//! epochs alternating ([`super::served_peer`]). The values do not matter for the time; both
//! sides draw their own.

use super::served_peer::{alternate, Paired, ServedPeer};
use super::Timing;
use crate::compute::cpu::Cpu;
use crate::compute::Backend;
use crate::models::device_params::Adam;
use crate::models::qa_head::{HeadConfig, HeadKind, QaHead};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchQa {
    pub questions: usize,
    pub repeats: usize,
    /// Python and the peer script, or none for tsumugi alone.
    pub peer: Option<(String, std::path::PathBuf)>,
    pub threads: usize,
}

pub struct QaResult {
    pub ours: Timing,
    pub peer: Option<Paired>,
}

const BATCH: usize = 100;

/// The article's network.
pub fn article_cnn() -> HeadConfig {
    HeadConfig {
        kind: HeadKind::Cnn,
        choices: 1,
        hidden: 768,
        options: 5,
        width: 128,
        image: (24, 32),
        channels: (32, 64),
    }
}

/// One epoch: a step per batch of 100 (a last batch of one left out), the loss read after
/// each, as `qa train` does.
fn epoch(head: &mut QaHead<Cpu>, x: &[f32], labels: &[u32]) -> Result<f64> {
    let began = Instant::now();
    let n = labels.len();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        if end - start < 2 {
            continue;
        }
        let ids = Cpu.upload_ids(&labels[start..end])?;
        let (loss, _) = head.forward_backward(&Cpu, &x[start * 768..end * 768].to_vec(), &ids, end - start)?;
        Cpu.download(&loss)?;
        head.adam_step(
            &Cpu,
            1e-3,
            Adam {
                weight_decay: 0.01,
                ..Adam::default()
            },
        )?;
    }
    Ok(began.elapsed().as_secs_f64())
}

pub fn run(b: &BenchQa) -> Result<QaResult> {
    if b.repeats == 0 || b.questions < 2 {
        bail!("--repeats must be positive and --questions at least 2");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..b.questions * 768).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let labels: Vec<u32> = (0..b.questions).map(|_| rng.gen_range(0..5)).collect();
    let cfg = article_cnn();
    let mut head = QaHead::upload(&Cpu, &cfg, &QaHead::<Cpu>::init(&cfg, 0)?)?;
    epoch(&mut head, &x, &labels)?; // warm-up, as the peer does
    let mut ours = || epoch(&mut head, &x, &labels);
    Ok(match &b.peer {
        Some((python, script)) => {
            let args = vec![
                "--questions".to_string(),
                b.questions.to_string(),
                "--threads".into(),
                b.threads.to_string(),
            ];
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

/// The line the command prints.
pub fn summary(b: &BenchQa, r: &QaResult) -> String {
    let mut out = format!(
        "one training epoch of the article's CNN over {} questions (768 features as 24×32, batch 100, AdamW):\ntsumugi {:.2} s (min {:.2}, max {:.2})",
        b.questions, r.ours.median, r.ours.min, r.ours.max
    );
    if let Some(p) = &r.peer {
        let t = Timing::of(p.peer.clone());
        out.push_str(&format!(
            "; PyTorch {:.2} s (min {:.2}, max {:.2}); {}",
            t.median,
            t.min,
            t.max,
            p.ratio_line("PyTorch")
        ));
    }
    out.push('\n');
    out
}
