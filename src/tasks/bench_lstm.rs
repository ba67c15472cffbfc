//! `tsumugi bench lstm`: one training step of the BetterRnnlm-sized LSTM language model
//! (V 10k, H 650, 2 layers, T 35, B 20, dropout 0.5, tied decoder; forward, backward, clip 0.25,
//! SGD) here and in the PyTorch peer (`tools/peers/lstm_peer.py`) in the same command, the two
//! sides' steps alternating ([`super::bench_peer`]).

use super::bench::{flag_args, Timing};
use super::bench_peer::{alternate, Paired, ServedPeer};
use crate::nn::lm::{LanguageModel, LmConfig};
use crate::nn::lstm::LstmState;
use crate::train::clip::{clip_factor, grad_norm};
use crate::train::optim::{Optimizer, OptimizerConfig};
use anyhow::Result;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

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

impl Stepper {
    pub fn new(shape: StepShape) -> Result<Self> {
        let cfg = LmConfig {
            vocab: shape.vocab,
            embed: shape.hidden,
            hidden: shape.hidden,
            layers: shape.layers,
            dropout: shape.dropout,
            tied: true,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        let model = LanguageModel::new(cfg, 0)?;
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

/// Seconds per step over `repeats` steps after one warm-up step, tsumugi alone.
pub fn time_tsumugi(shape: StepShape, repeats: usize) -> Result<Vec<f64>> {
    let mut stepper = Stepper::new(shape)?;
    stepper.step();
    Ok((0..repeats).map(|_| stepper.step()).collect())
}

/// `repeats` steps on each side, alternating, after one warm-up step on each.
pub fn time_alternating(
    python: &str,
    script: &Path,
    shape: StepShape,
    repeats: usize,
    threads: usize,
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
    let mut peer = ServedPeer::start(python, script, &args)?;
    let mut stepper = Stepper::new(shape)?;
    stepper.step();
    alternate(repeats, &mut peer, "step", || Ok(stepper.step()))
}

/// The printed comparison; with `peak` (all threads' FMA GFLOP/s at once), also the time the
/// step's FLOPs would take at that peak and how near each side comes to it.
pub fn summary(shape: StepShape, ours: &[f64], peer: Option<&Paired>, peak: Option<f64>) -> String {
    let gflops = shape.flops() / 1e9;
    let t = Timing::of(ours.to_vec());
    let mut s = format!(
        "LM step V {} H {} L {} T {} B {} (≈ {gflops:.1} GFLOP): tsumugi {:.4} / {:.4} / {:.4} s (min / median / max), {:.1} GFLOP/s",
        shape.vocab, shape.hidden, shape.layers, shape.steps, shape.batch, t.min, t.median, t.max, gflops / t.median
    );
    let peer_timing = peer.map(|p| Timing::of(p.peer.clone()));
    if let (Some(p), Some(pt)) = (peer, &peer_timing) {
        s.push_str(&format!(
            "\n  pytorch {:.4} / {:.4} / {:.4} s, {:.1} GFLOP/s; {}",
            pt.min,
            pt.median,
            pt.max,
            gflops / pt.median,
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
