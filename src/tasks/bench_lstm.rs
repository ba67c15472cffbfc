//! `tsumugi bench lstm`: one training step of the BetterRnnlm-sized LSTM language model
//! (V 10k, H 650, 2 layers, T 35, B 20, dropout 0.5, tied decoder; forward, backward, clip 0.25,
//! SGD) here and in the PyTorch peer (`tools/peers/lstm_peer.py`) in the same command.

use super::bench::{peer_seconds, run_peer, Timing};
use crate::nn::lm::{LanguageModel, LmConfig};
use crate::train::clip::clip_grad_norm;
use crate::train::optim::{Optimizer, OptimizerConfig};
use anyhow::Result;
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

/// Seconds per step over `repeats` steps after one warm-up step.
pub fn time_tsumugi(shape: StepShape, repeats: usize) -> Result<Vec<f64>> {
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
    let mut model = LanguageModel::new(cfg, 0)?;
    let mut optimizer = Optimizer::new(OptimizerConfig::Sgd {
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    });
    let mut rng = LanguageModel::rng(0, 1);
    let n = shape.steps * shape.batch;
    let tokens = model.random_tokens(n, &mut rng);
    let targets = model.random_tokens(n, &mut rng);
    let mut states = model.initial_state(shape.batch);
    let mut times = Vec::new();
    for i in 0..=repeats {
        let began = Instant::now();
        model.params.zero_grad();
        model.forward_backward(&tokens, &targets, shape.steps, shape.batch, &mut states, &mut rng);
        clip_grad_norm(&mut model.params, 0.25);
        optimizer.step(&mut model.params, 20.0);
        if i > 0 {
            times.push(began.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

pub fn time_peer(python: &str, script: &Path, shape: StepShape, repeats: usize, threads: usize) -> Result<Vec<f64>> {
    let sizes = [
        ("--vocab", shape.vocab),
        ("--hidden", shape.hidden),
        ("--layers", shape.layers),
        ("--steps", shape.steps),
        ("--batch", shape.batch),
        ("--repeats", repeats),
        ("--threads", threads),
    ];
    let mut args: Vec<String> = sizes
        .iter()
        .flat_map(|(flag, v)| [flag.to_string(), v.to_string()])
        .collect();
    args.extend(["--dropout".to_string(), shape.dropout.to_string()]);
    peer_seconds(&run_peer(python, script, &args)?, "step_seconds")
}

/// The printed comparison.
pub fn summary(shape: StepShape, ours: &Timing, peer: Option<&Timing>) -> String {
    let gflops = shape.flops() / 1e9;
    let mut s = format!(
        "LM step V {} H {} L {} T {} B {} (≈ {gflops:.1} GFLOP): tsumugi {:.4} / {:.4} / {:.4} s (min / median / max), {:.1} GFLOP/s",
        shape.vocab, shape.hidden, shape.layers, shape.steps, shape.batch, ours.min, ours.median, ours.max, gflops / ours.median
    );
    if let Some(p) = peer {
        s.push_str(&format!(
            "\n  pytorch {:.4} / {:.4} / {:.4} s, {:.1} GFLOP/s; tsumugi / pytorch step time = {:.2}",
            p.min,
            p.median,
            p.max,
            gflops / p.median,
            ours.median / p.median
        ));
    }
    s
}
