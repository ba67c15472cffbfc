//! `tsumugi bench lstm`: one training step of the BetterRnnlm-sized LSTM language model
//! (V 10k, H 650, 2 layers, T 35, B 20, dropout 0.5, tied decoder; forward, backward, clip 0.25,
//! SGD) here and in the PyTorch peer (`tools/peers/lstm_peer.py`) in the same command, the two
//! sides' steps alternating ([`super::served_peer`]).
//!
//! tsumugi's side is the engine `lm train` steps ([`crate::tasks::lm::engine`]): on the CPU,
//! and on a GPU (`--device cuda`) against PyTorch's `nn.LSTM` on cuDNN on the same card. Each
//! GPU step is timed from a synchronised start to a synchronised end, on both sides.

use super::served_peer::{alternate, Paired, ServedPeer};
use super::{flag_args, Timing};
use crate::models::lm_weights::{LanguageModel, LmConfig};
use crate::tasks::lm::engine::{DeviceEngine, Engine};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;

/// Where tsumugi's side runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchDevice {
    Cpu,
    /// A CUDA device by ordinal; the peer runs on `cuda:0` of what it sees.
    Cuda(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct StepShape {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub steps: usize,
    pub batch: usize,
    pub dropout: f32,
}

impl StepShape {
    /// Multiply-adds × 2 of one step: each LSTM layer's input and recurrent products and the
    /// decoder, forward once and backward twice (data and weight gradients).
    pub fn flops(&self) -> f64 {
        let n = (self.steps * self.batch) as f64;
        let h = self.hidden as f64;
        let lstm = self.layers as f64 * 2.0 * n * 4.0 * h * (h + h);
        let decoder = 2.0 * n * h * self.vocab as f64;
        3.0 * (lstm + decoder)
    }
}

impl StepShape {
    /// The benchmarked model: tied, plain dropout, seed 0.
    fn model(&self) -> Result<LanguageModel> {
        let cfg = LmConfig {
            vocab: self.vocab,
            embed: self.hidden,
            hidden: self.hidden,
            layers: self.layers,
            dropout: self.dropout,
            tied: true,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        LanguageModel::new(cfg, 0)
    }
}

/// tsumugi's side: the engine `lm train` runs, stepped on one batch as often as asked.
struct Stepper {
    engine: Box<dyn Engine>,
    tokens: Vec<u32>,
    targets: Vec<u32>,
    shape: StepShape,
}

impl Stepper {
    fn new(shape: StepShape, device: BenchDevice) -> Result<Self> {
        let model = shape.model()?;
        let mut rng = LanguageModel::rng(0, 1);
        let n = shape.steps * shape.batch;
        let tokens = model.random_tokens(n, &mut rng);
        let targets = model.random_tokens(n, &mut rng);
        let mut engine: Box<dyn Engine> = match device {
            BenchDevice::Cpu => Box::new(DeviceEngine::on_cpu(model, 0, shape.batch)?),
            BenchDevice::Cuda(ordinal) => cuda_engine(model, shape.batch, ordinal)?,
        };
        engine.start_epoch(1)?;
        Ok(Self {
            engine,
            tokens,
            targets,
            shape,
        })
    }

    /// One training step (forward, backward, clip 0.25, SGD lr 20, which leaves the gradients
    /// zero), ending when its loss is on the host (on a GPU, when the device has finished); its
    /// seconds.
    fn step(&mut self) -> Result<f64> {
        let began = Instant::now();
        let s = self.shape;
        self.engine.step(&self.tokens, &self.targets, s.steps, 20.0, 0.25)?;
        Ok(began.elapsed().as_secs_f64())
    }
}

/// A timed step on `device`, warmed up once.
fn stepper(shape: StepShape, device: BenchDevice) -> Result<Box<dyn FnMut() -> Result<f64>>> {
    let mut s = Stepper::new(shape, device)?;
    s.step()?;
    Ok(Box::new(move || s.step()))
}

#[cfg(feature = "cuda")]
fn cuda_engine(model: LanguageModel, batch: usize, ordinal: usize) -> Result<Box<dyn Engine>> {
    let be = crate::compute::cuda::Cuda::new(ordinal)?;
    Ok(Box::new(DeviceEngine::new(be, model, 0, batch)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_engine(_model: LanguageModel, _batch: usize, _ordinal: usize) -> Result<Box<dyn Engine>> {
    anyhow::bail!("this tsumugi was built without the `cuda` feature; build one with tools/cuda-build.sh")
}

/// Seconds per step over `repeats` steps after one warm-up step, tsumugi alone.
pub fn time_tsumugi(shape: StepShape, repeats: usize, device: BenchDevice) -> Result<Vec<f64>> {
    let mut step = stepper(shape, device)?;
    (0..repeats).map(|_| step()).collect()
}

/// `repeats` steps on each side, alternating, after one warm-up step on each.
pub fn time_alternating(
    python: &str,
    script: &Path,
    shape: StepShape,
    repeats: usize,
    threads: usize,
    device: BenchDevice,
) -> Result<Paired> {
    let mut args = flag_args(&[
        ("--vocab", shape.vocab),
        ("--hidden", shape.hidden),
        ("--layers", shape.layers),
        ("--steps", shape.steps),
        ("--batch", shape.batch),
        ("--threads", threads),
    ]);
    args.extend(["--dropout".to_string(), shape.dropout.to_string()]);
    if let BenchDevice::Cuda(_) = device {
        args.extend(["--device".to_string(), "cuda".to_string()]);
    }
    let mut peer = ServedPeer::start(python, script, &args)?;
    let mut step = stepper(shape, device)?;
    alternate(repeats, &mut peer, "step", &mut step)
}

/// The printed comparison; with `peak` (all threads' FMA GFLOP/s at once), also the time the
/// step's FLOPs would take at that peak and how near each side comes to it.
pub fn summary(shape: StepShape, ours: &[f64], peer: Option<&Paired>, peak: Option<f64>) -> String {
    let gflops = shape.flops() / 1e9;
    let t = Timing::of(ours.to_vec());
    let tokens = (shape.steps * shape.batch) as f64;
    let mut s = format!(
        "LM step V {} H {} L {} T {} B {} (≈ {gflops:.1} GFLOP): tsumugi {:.4} / {:.4} / {:.4} s (min / median / max), {:.1} GFLOP/s, {:.0} tokens/s",
        shape.vocab, shape.hidden, shape.layers, shape.steps, shape.batch, t.min, t.median, t.max, gflops / t.median, tokens / t.median
    );
    let peer_timing = peer.map(|p| Timing::of(p.peer.clone()));
    if let (Some(p), Some(pt)) = (peer, &peer_timing) {
        s.push_str(&format!(
            "\n  pytorch {:.4} / {:.4} / {:.4} s, {:.1} GFLOP/s, {:.0} tokens/s; {}",
            pt.min,
            pt.median,
            pt.max,
            gflops / pt.median,
            tokens / pt.median,
            p.ratio_line("pytorch step time")
        ));
    }
    if let Some(peak) = peak {
        let floor = gflops / peak;
        s.push_str(&format!(
            "\n  FMA peak of all threads at once {peak:.1} GFLOP/s: the step's FLOPs alone take ≥ {floor:.4} s; tsumugi's median at {:.0}% of that peak",
            100.0 * floor / t.median
        ));
        if let Some(pt) = &peer_timing {
            s.push_str(&format!(", PyTorch's at {:.0}%", 100.0 * floor / pt.median));
        }
    }
    s
}
