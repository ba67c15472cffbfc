//! The LSTM language model of "Deep Learning from Scratch 2" (BetterRnnlm) and PyTorch's
//! word_language_model example: embedding → dropout → LSTM × L (dropout between layers) →
//! dropout → linear decoder, its weight tied to the embedding by default. Parameter names follow
//! that example (`encoder.weight`, `rnn.weight_ih_l0`, …, `decoder.bias`).

use crate::kernels::matmul::{matmul, matmul_onto_row, Layout};
use crate::kernels::recycle::{overwritable, recycle};
use crate::nn::activation::{dropout_backward, dropout_chacha, locked_dropout, word_dropout};
use crate::nn::lstm::{LstmLayer, LstmState, LstmTape};
use crate::nn::params::{Init, ParamId, Params};
use crate::nn::vocab_loss::{softmax_cross_entropy, softmax_cross_entropy_grad};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The (h, c) state of every layer, carried across batches (and so detached: backward never
/// reaches into a previous batch).
pub type LstmStates = Vec<LstmState>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    pub vocab: usize,
    /// Embedding size D (equal to `hidden` when tied).
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f32,
    pub tied: bool,
    /// Variational dropout: the same mask at every time step of a batch.
    #[serde(default)]
    pub locked_dropout: bool,
    /// Probability of dropping a whole word's embedding for a batch.
    #[serde(default)]
    pub embedding_dropout: f32,
}

#[derive(Debug, Clone)]
pub struct LanguageModel {
    pub cfg: LmConfig,
    pub params: Params,
    embedding: ParamId,
    rnn: Vec<LstmLayer>,
    /// `None` when the decoder shares the embedding's weight.
    decoder_weight: Option<ParamId>,
    decoder_bias: ParamId,
}

impl LanguageModel {
    /// Init as the PyTorch example: embedding and decoder weight uniform ±0.1, decoder bias 0.
    pub fn new(cfg: LmConfig, seed: u64) -> Result<Self> {
        if cfg.tied && cfg.embed != cfg.hidden {
            bail!(
                "a tied decoder needs the embedding size ({}) to equal the hidden size ({})",
                cfg.embed,
                cfg.hidden
            );
        }
        if cfg.layers == 0 || cfg.vocab == 0 || cfg.hidden == 0 {
            bail!("the language model needs at least one layer, one word and one hidden unit");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Params::default();
        let embedding = params.add(
            "encoder.weight",
            &[cfg.vocab, cfg.embed],
            Init::Uniform { bound: 0.1 },
            true,
            &mut rng,
        );
        let rnn = (0..cfg.layers)
            .map(|l| {
                LstmLayer::new(
                    &mut params,
                    "rnn",
                    l,
                    if l == 0 { cfg.embed } else { cfg.hidden },
                    cfg.hidden,
                    &mut rng,
                )
            })
            .collect();
        let decoder_weight = (!cfg.tied).then(|| {
            params.add(
                "decoder.weight",
                &[cfg.vocab, cfg.hidden],
                Init::Uniform { bound: 0.1 },
                true,
                &mut rng,
            )
        });
        let decoder_bias = params.add("decoder.bias", &[cfg.vocab], Init::Constant(0.0), true, &mut rng);
        Ok(Self {
            cfg,
            params,
            embedding,
            rnn,
            decoder_weight,
            decoder_bias,
        })
    }

    pub fn initial_state(&self, batch: usize) -> Vec<LstmState> {
        (0..self.cfg.layers)
            .map(|_| LstmState::zeros(batch, self.cfg.hidden))
            .collect()
    }

    fn decoder(&self) -> ParamId {
        self.decoder_weight.unwrap_or(self.embedding)
    }

    /// Forward over tokens `[T, B]` (time-major), returning the decoder input `[T·B, H]`, logits
    /// `[T·B, V]` and everything backward needs. `states` are replaced by the final states.
    fn forward(
        &self,
        tokens: &[u32],
        steps: usize,
        batch: usize,
        states: &mut [LstmState],
        rng: Option<&mut ChaCha8Rng>,
    ) -> Forward {
        let (d, v) = (self.cfg.embed, self.cfg.vocab);
        let rows = steps * batch;
        let table = self.params.value(self.embedding);
        // x[T·B, D] = embedding rows
        let mut x = vec![0f32; rows * d];
        for (row, &tok) in x.chunks_exact_mut(d).zip(tokens) {
            row.copy_from_slice(&table[tok as usize * d..(tok as usize + 1) * d]);
        }
        let (p, locked) = (self.cfg.dropout, self.cfg.locked_dropout);
        let mut rng = rng;
        let mut masks = Vec::new();
        if let (Some(r), true) = (rng.as_deref_mut(), self.cfg.embedding_dropout > 0.0) {
            masks.push(word_dropout(&mut x, tokens, v, self.cfg.embedding_dropout, r));
        }
        let mut drop = |values: &mut [f32], width: usize, masks: &mut Vec<Vec<f32>>| {
            if let (Some(r), true) = (rng.as_deref_mut(), p > 0.0) {
                masks.push(if locked {
                    locked_dropout(values, batch, width, p, r)
                } else {
                    dropout_chacha(values, p, r)
                });
            }
        };
        drop(&mut x, d, &mut masks);
        let mut inputs = vec![x];
        let mut tapes = Vec::with_capacity(self.rnn.len());
        for (layer, state) in self.rnn.iter().zip(states.iter_mut()) {
            let (mut out, last, tape) = layer.forward(&self.params, inputs.last().expect("input"), steps, batch, state);
            *state = last;
            tapes.push(tape);
            let raw = out.clone();
            drop(&mut out, self.cfg.hidden, &mut masks);
            inputs.push(raw);
            inputs.push(out);
        }
        let top = inputs.last().expect("top layer");
        let h = self.cfg.hidden;
        let mut logits = overwritable(rows * v);
        // logits[T·B, V] = b[V] + h[T·B, H] · Wᵀ[H, V]
        matmul_onto_row(
            &mut logits,
            self.params.value(self.decoder_bias),
            top,
            Layout::Plain,
            self.params.value(self.decoder()),
            Layout::Transposed,
            rows,
            h,
            v,
        );
        Forward {
            inputs,
            tapes,
            masks,
            logits,
        }
    }

    /// Logits `[T·B, V]` for tokens `[T, B]`, no dropout; `states` advance (generation).
    pub fn logits(&self, tokens: &[u32], steps: usize, batch: usize, states: &mut [LstmState]) -> Vec<f32> {
        self.forward(tokens, steps, batch, states, None).logits
    }

    /// Mean cross-entropy of predicting `targets` `[T, B]`; without `rng` no dropout is applied.
    pub fn loss(&self, tokens: &[u32], targets: &[u32], steps: usize, batch: usize, states: &mut [LstmState]) -> f64 {
        let f = self.forward(tokens, steps, batch, states, None);
        softmax_cross_entropy(&f.logits, targets, self.cfg.vocab)
    }

    /// One training forward and backward: accumulates gradients, returns the mean loss.
    pub fn forward_backward(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        steps: usize,
        batch: usize,
        states: &mut [LstmState],
        rng: &mut ChaCha8Rng,
    ) -> f64 {
        let (embed, h, v) = (self.cfg.embed, self.cfg.hidden, self.cfg.vocab);
        let rows = steps * batch;
        let mut f = self.forward(tokens, steps, batch, states, Some(rng));
        let (loss, bias_grad) = softmax_cross_entropy_grad(&mut f.logits, targets, v);
        let d_logits = f.logits;
        let top = f.inputs.last().expect("top");
        let decoder = self.decoder();
        // dW[V, H] += d_logitsᵀ · h ;  d_h[T·B, H] = d_logits · W
        matmul(
            &mut self.params[decoder].grad,
            &d_logits,
            Layout::Transposed,
            top,
            Layout::Plain,
            v,
            rows,
            h,
            true,
        );
        for (g, s) in self.params[self.decoder_bias].grad.iter_mut().zip(bias_grad) {
            *g += s;
        }
        let mut d = overwritable(rows * h);
        matmul(
            &mut d,
            &d_logits,
            Layout::Plain,
            self.params.value(decoder),
            Layout::Plain,
            rows,
            v,
            h,
            false,
        );
        let mut masks = f.masks;
        for (l, layer) in self.rnn.iter().enumerate().rev() {
            if self.cfg.dropout > 0.0 {
                dropout_backward(&mut d, &masks.pop().expect("mask per dropout"));
            }
            // inputs = [x, raw_0, dropped_0, raw_1, dropped_1, …]
            let layer_input = &f.inputs[2 * l];
            let raw_out = &f.inputs[2 * l + 1];
            let d_input = layer.backward(&mut self.params, layer_input, raw_out, &f.tapes[l], &d);
            recycle(std::mem::replace(&mut d, d_input));
        }
        if self.cfg.dropout > 0.0 {
            dropout_backward(&mut d, &masks.pop().expect("input dropout mask"));
        }
        if self.cfg.embedding_dropout > 0.0 {
            dropout_backward(&mut d, &masks.pop().expect("embedding dropout mask"));
        }
        // scatter-add d_x[T·B, D] into the embedding rows of the tokens
        let grad = &mut self.params[self.embedding].grad;
        for (row, &tok) in d.chunks_exact(embed).zip(tokens) {
            let t = tok as usize;
            for (g, x) in grad[t * embed..(t + 1) * embed].iter_mut().zip(row) {
                *g += x;
            }
        }
        // this step's large buffers serve the next one
        recycle(d);
        recycle(d_logits);
        f.tapes.into_iter().for_each(LstmTape::recycle);
        f.inputs.into_iter().for_each(recycle);
        loss
    }

    /// A seeded RNG stream for dropout.
    pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        r
    }

    pub fn random_tokens(&self, n: usize, rng: &mut impl Rng) -> Vec<u32> {
        (0..n).map(|_| rng.gen_range(0..self.cfg.vocab as u32)).collect()
    }
}

struct Forward {
    /// `[x, raw_0, dropped_0, raw_1, dropped_1, …]`: each LSTM layer's input and output
    /// before and after dropout (raw and dropped are equal without dropout).
    inputs: Vec<Vec<f32>>,
    tapes: Vec<LstmTape>,
    masks: Vec<Vec<f32>>,
    logits: Vec<f32>,
}

/// In words: `2 × 650 LSTM, vocabulary 10000, dropout 0.5, tied decoder`.
impl std::fmt::Display for LmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} × {} LSTM", self.layers, self.hidden)?;
        if self.embed != self.hidden {
            write!(f, ", embedding {}", self.embed)?;
        }
        write!(f, ", vocabulary {}, dropout {}", self.vocab, self.dropout)?;
        if self.locked_dropout {
            write!(f, " (locked across time steps)")?;
        }
        if self.embedding_dropout > 0.0 {
            write!(f, ", embedding dropout {}", self.embedding_dropout)?;
        }
        write!(f, ", {} decoder", if self.tied { "tied" } else { "untied" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite differences of the eval loss against `forward_backward` (no dropout, so both see
    /// the same function), for every parameter, tied and untied.
    fn check(tied: bool) {
        let cfg = LmConfig {
            vocab: 7,
            embed: 4,
            hidden: 4,
            layers: 2,
            dropout: 0.0,
            tied,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        let model = LanguageModel::new(cfg, 3).unwrap();
        let (steps, batch) = (3, 2);
        let mut rng = LanguageModel::rng(0, 0);
        let tokens = model.random_tokens(steps * batch, &mut rng);
        let targets = model.random_tokens(steps * batch, &mut rng);
        let mut with_grads = model.clone();
        let mut states = model.initial_state(batch);
        with_grads.forward_backward(&tokens, &targets, steps, batch, &mut states, &mut rng);
        let eps = 1e-2;
        for (pi, p) in model.params.iter().enumerate() {
            for k in 0..p.value.len() {
                let loss_at = |delta: f32| {
                    let mut m = model.clone();
                    m.params[pi].value[k] += delta;
                    m.loss(&tokens, &targets, steps, batch, &mut m.initial_state(batch))
                };
                let numeric = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps as f64);
                let analytic = with_grads.params[pi].grad[k] as f64;
                assert!(
                    (numeric - analytic).abs() < 2e-4 + 1e-2 * analytic.abs(),
                    "{}[{k}]: numeric {numeric} analytic {analytic}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn tied_gradients_match_finite_differences() {
        check(true);
    }

    #[test]
    fn untied_gradients_match_finite_differences() {
        check(false);
    }

    #[test]
    fn tying_needs_equal_sizes() {
        let cfg = LmConfig {
            vocab: 7,
            embed: 3,
            hidden: 4,
            layers: 1,
            dropout: 0.0,
            tied: true,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        assert!(LanguageModel::new(cfg, 0)
            .unwrap_err()
            .to_string()
            .contains("tied decoder"));
    }
}
