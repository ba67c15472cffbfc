//! `tsumugi bench lstm`: one training step of the BetterRnnlm-sized LSTM language model
//! (V 10k, H 650, 2 layers, T 35, B 20, dropout 0.5, tied decoder; forward, backward, clip 0.25,
//! SGD) here and in the PyTorch peer (`tools/peers/lstm_peer.py`) in the same command, the two
//! sides' steps alternating ([`super::served_peer`]).
//!
//! On the CPU tsumugi's side is the slice-based [`LanguageModel`] that `lm train` runs; on a GPU
//! (`--device cuda`) it is the backend-generic [`LstmLm`] on [`crate::compute::cuda`], against
//! PyTorch's `nn.LSTM` on cuDNN on the same card. Each GPU step is timed from a synchronised
//! start to a synchronised end, on both sides.

use super::served_peer::{alternate, Paired, ServedPeer};
use super::{flag_args, Timing};
#[cfg(feature = "cuda")]
use crate::compute::Backend;
use crate::models::cpu_lm::{LanguageModel, LmConfig};
#[cfg(feature = "cuda")]
use crate::models::lm::{Batch, LstmLm, State};
use crate::nn::lstm::LstmState;
use crate::train::clip::{clip_factor, grad_norm};
use crate::train::optim::{Optimizer, OptimizerConfig};
use anyhow::Result;
use rand_chacha::ChaCha8Rng;
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

/// tsumugi's side: a model, its optimizer and one batch, stepped as often as asked.
pub struct Stepper {
    model: LanguageModel,
    optimizer: Optimizer,
    rng: ChaCha8Rng,
    tokens: Vec<u32>,
    targets: Vec<u32>,
    states: Vec<LstmState>,
    shape: StepShape,
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

impl Stepper {
    pub fn new(shape: StepShape) -> Result<Self> {
        let model = shape.model()?;
        let optimizer = Optimizer::new(OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        });
        let mut rng = LanguageModel::rng(0, 1);
        let n = shape.steps * shape.batch;
        let tokens = model.random_tokens(n, &mut rng);
        let targets = model.random_tokens(n, &mut rng);
        let states = model.initial_state(shape.batch);
        Ok(Self {
            model,
            optimizer,
            rng,
            tokens,
            targets,
            states,
            shape,
        })
    }

    /// One training step (forward, backward, clip, SGD, which leaves the gradients zero); its
    /// seconds.
    pub fn step(&mut self) -> f64 {
        let began = Instant::now();
        self.model.forward_backward(
            &self.tokens,
            &self.targets,
            self.shape.steps,
            self.shape.batch,
            &mut self.states,
            &mut self.rng,
        );
        let clip = clip_factor(grad_norm(&self.model.params), 0.25);
        self.optimizer.step(&mut self.model.params, 20.0, clip);
        began.elapsed().as_secs_f64()
    }
}

/// tsumugi's side on a backend: the generic model, one batch and the carried state.
#[cfg(feature = "cuda")]
struct DeviceStepper<B: Backend> {
    be: B,
    model: LstmLm<B>,
    batch: Batch<B>,
    state: State<B>,
    step: u64,
}

#[cfg(feature = "cuda")]
impl<B: Backend> DeviceStepper<B> {
    fn new(be: B, shape: StepShape) -> Result<Self> {
        let reference = shape.model()?;
        let model = LstmLm::new(&be, &reference)?;
        let mut rng = LanguageModel::rng(0, 1);
        let n = shape.steps * shape.batch;
        let tokens = reference.random_tokens(n, &mut rng);
        let targets = reference.random_tokens(n, &mut rng);
        let batch = model.batch(&be, &tokens, &targets, shape.steps, shape.batch)?;
        let state = model.initial_state(&be, shape.batch)?;
        Ok(Self {
            be,
            model,
            batch,
            state,
            step: 0,
        })
    }

    /// One step (forward, backward, clip 0.25, SGD lr 20) from a synchronised start to a
    /// synchronised end; its seconds.
    fn step(&mut self) -> Result<f64> {
        self.be.sync()?;
        let began = Instant::now();
        let loss = self
            .model
            .forward_backward(&self.be, &self.batch, &mut self.state, 0, self.step)?;
        self.model.sgd_step(&self.be, 20.0, Some(0.25))?;
        self.be.sync()?;
        self.step += 1;
        drop(loss);
        Ok(began.elapsed().as_secs_f64())
    }
}

/// A timed step on `device`, warmed up once.
fn stepper(shape: StepShape, device: BenchDevice) -> Result<Box<dyn FnMut() -> Result<f64>>> {
    let mut step: Box<dyn FnMut() -> Result<f64>> = match device {
        BenchDevice::Cpu => {
            let mut s = Stepper::new(shape)?;
            Box::new(move || Ok(s.step()))
        }
        BenchDevice::Cuda(ordinal) => cuda_stepper(shape, ordinal)?,
    };
    step()?;
    Ok(step)
}

#[cfg(feature = "cuda")]
fn cuda_stepper(shape: StepShape, ordinal: usize) -> Result<Box<dyn FnMut() -> Result<f64>>> {
    let mut s = DeviceStepper::new(crate::compute::cuda::Cuda::new(ordinal)?, shape)?;
    Ok(Box::new(move || s.step()))
}

#[cfg(not(feature = "cuda"))]
fn cuda_stepper(_shape: StepShape, _ordinal: usize) -> Result<Box<dyn FnMut() -> Result<f64>>> {
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
