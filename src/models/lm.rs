//! The LSTM language model of [`crate::models::cpu_lm`] (embedding → dropout → LSTM × L → dropout →
//! decoder, tied by default; PyTorch's word_language_model names) written once over
//! [`Backend`], so the same forward and backward run on the CPU and on a GPU.
//!
//! Its weights are taken by name from a [`LanguageModel`] (so a run's init and checkpoints
//! serve both) and given back the same way. Dropout masks come from [`crate::compute::mask`],
//! keyed by seed, step and site, so both devices draw the same masks (locked and word dropout
//! included).
//!
//! `lm train` still trains through [`LanguageModel`] on the CPU, whose step recycles its
//! buffers and fuses the two bias gradients; this model is what `bench lstm --device` runs.

use crate::compute::suite::OpCheck;
use crate::compute::{mask, Backend, Layout, LstmShape, Tiling};
use crate::models::cpu_lm::{LanguageModel, LmConfig};
use crate::nn::params::Params;
use anyhow::{bail, ensure, Context, Result};

/// The dropout site of the embedding's word mask (sites 0..=L are the dropouts between layers).
const WORD_SITE: u64 = 1 << 20;

/// One LSTM layer's parameters, as indices into the model's lists.
struct Layer {
    weight_ih: usize,
    weight_hh: usize,
    bias_ih: usize,
    bias_hh: usize,
    input: usize,
}

/// What backward needs of one layer's forward.
struct LayerTape<B: Backend> {
    /// The layer's input `[T·B, In]` (after dropout).
    input: B::Buf,
    /// Gate activations `[T·B, 4H]`, cell states and outputs `[T·B, H]` (before dropout).
    gates: B::Buf,
    cells: B::Buf,
    out: B::Buf,
    /// The state the layer started from `[B, H]`.
    h0: B::Buf,
    c0: B::Buf,
    /// The dropout mask applied to `out` (`[T·B, H]`), when training with dropout.
    out_mask: Option<B::Buf>,
}

struct Tape<B: Backend> {
    /// The embedding's dropout mask `[T·B, D]` (word and plain dropout in one), when training
    /// with dropout.
    input_mask: Option<B::Buf>,
    layers: Vec<LayerTape<B>>,
    /// The decoder's input `[T·B, H]` (the top layer's output after dropout).
    top: B::Buf,
}

/// The (h, c) state of every layer `[B, H]`, carried across batches.
pub struct State<B: Backend> {
    pub h: Vec<B::Buf>,
    pub c: Vec<B::Buf>,
}

/// One batch on the device: tokens and targets `[T, B]`, time-major.
pub struct Batch<B: Backend> {
    pub tokens: B::Ids,
    pub targets: B::Ids,
    pub steps: usize,
    pub batch: usize,
}

/// The model's parameters and gradients on one backend.
pub struct LstmLm<B: Backend> {
    pub cfg: LmConfig,
    names: Vec<String>,
    values: Vec<B::Buf>,
    grads: Vec<B::Buf>,
    embedding: usize,
    layers: Vec<Layer>,
    decoder_weight: usize,
    decoder_bias: usize,
}

impl<B: Backend> LstmLm<B> {
    /// Uploads `model`'s weights by name; gradients start at zero.
    pub fn new(be: &B, model: &LanguageModel) -> Result<Self> {
        let cfg = model.cfg.clone();
        let mut names = Vec::new();
        let (mut values, mut grads) = (Vec::new(), Vec::new());
        let mut take = |name: String| -> Result<usize> {
            let p = model
                .params
                .get(&name)
                .with_context(|| format!("the model has no tensor {name}"))?;
            values.push(be.upload(&p.value)?);
            grads.push(be.zeros(p.value.len())?);
            names.push(name);
            Ok(names.len() - 1)
        };
        let embedding = take("encoder.weight".into())?;
        let mut layers = Vec::new();
        for l in 0..cfg.layers {
            layers.push(Layer {
                weight_ih: take(format!("rnn.weight_ih_l{l}"))?,
                weight_hh: take(format!("rnn.weight_hh_l{l}"))?,
                bias_ih: take(format!("rnn.bias_ih_l{l}"))?,
                bias_hh: take(format!("rnn.bias_hh_l{l}"))?,
                input: if l == 0 { cfg.embed } else { cfg.hidden },
            });
        }
        let decoder_weight = if cfg.tied {
            embedding
        } else {
            take("decoder.weight".into())?
        };
        let decoder_bias = take("decoder.bias".into())?;
        Ok(Self {
            cfg,
            names,
            values,
            grads,
            embedding,
            layers,
            decoder_weight,
            decoder_bias,
        })
    }

    pub fn initial_state(&self, be: &B, batch: usize) -> Result<State<B>> {
        let n = batch * self.cfg.hidden;
        Ok(State {
            h: (0..self.cfg.layers).map(|_| be.zeros(n)).collect::<Result<_>>()?,
            c: (0..self.cfg.layers).map(|_| be.zeros(n)).collect::<Result<_>>()?,
        })
    }

    /// Uploads tokens and targets `[T, B]`, checking every id against the vocabulary.
    pub fn batch(&self, be: &B, tokens: &[u32], targets: &[u32], steps: usize, batch: usize) -> Result<Batch<B>> {
        ensure!(
            tokens.len() == steps * batch && targets.len() == steps * batch && steps * batch > 0,
            "a batch of {steps} steps × {batch} needs that many tokens and targets ({} and {})",
            tokens.len(),
            targets.len()
        );
        let v = self.cfg.vocab as u32;
        if let Some(bad) = tokens.iter().chain(targets).find(|&&t| t >= v) {
            bail!("token id {bad} outside the vocabulary of {v}");
        }
        Ok(Batch {
            tokens: be.upload_ids(tokens)?,
            targets: be.upload_ids(targets)?,
            steps,
            batch,
        })
    }

    /// Forward over a batch: the logits `[T·B, V]` and the tape; `state` advances to the
    /// final states. `dropout` is `(seed, step)` of the masks' keys, or `None` for no dropout.
    fn forward(
        &self,
        be: &B,
        x: &Batch<B>,
        state: &mut State<B>,
        dropout: Option<(u64, u64)>,
    ) -> Result<(B::Buf, Tape<B>)> {
        let (d, h, v) = (self.cfg.embed, self.cfg.hidden, self.cfg.vocab);
        let (steps, batch) = (x.steps, x.batch);
        let rows = steps * batch;
        // Multiplies `values` by a fresh mask of probability `p` and returns the mask.
        let masked = |values: &mut B::Buf, p: f32, site: u64, tiling: Tiling<'_, B::Ids>| -> Result<Option<B::Buf>> {
            match dropout {
                Some((seed, step)) if p > 0.0 => {
                    let mut m = be.zeros(be.len(values))?;
                    be.dropout_mask(&mut m, p, mask::key(seed, step, site), tiling)?;
                    be.mul(values, &m)?;
                    Ok(Some(m))
                }
                _ => Ok(None),
            }
        };
        // the dropout between layers: locked repeats one [B, width] mask at every step
        let locked = self.cfg.locked_dropout;
        let drop = |values: &mut B::Buf, site: u64, width: usize| {
            let tiling = if locked {
                Tiling::Repeat(batch * width)
            } else {
                Tiling::Each
            };
            masked(values, self.cfg.dropout, site, tiling)
        };
        // input[T·B, D] = embedding rows of the tokens, words dropped, then dropped
        let mut input = be.zeros(rows * d)?;
        be.gather_rows(&mut input, &self.values[self.embedding], &x.tokens, d)?;
        let by_word = Tiling::ByWord {
            ids: &x.tokens,
            width: d,
        };
        let word_mask = masked(&mut input, self.cfg.embedding_dropout, WORD_SITE, by_word)?;
        let input_mask = match (word_mask, drop(&mut input, 0, d)?) {
            (Some(mut w), Some(m)) => {
                be.mul(&mut w, &m)?;
                Some(w)
            }
            (w, m) => w.or(m),
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            // gates[T·B, 4H] = (b_ih + b_hh) + input[T·B, In] · W_ihᵀ
            let mut bias = be.zeros(4 * h)?;
            be.copy(&mut bias, 0, &self.values[layer.bias_ih], 0, 4 * h)?;
            be.add(&mut bias, &self.values[layer.bias_hh])?;
            let mut gates = be.zeros(rows * 4 * h)?;
            let w_ih = &self.values[layer.weight_ih];
            be.gemm_onto_row(
                &mut gates,
                &bias,
                &input,
                Layout::Plain,
                w_ih,
                Layout::Transposed,
                rows,
                layer.input,
                4 * h,
            )?;
            let (mut out, mut cells) = (be.zeros(rows * h)?, be.zeros(rows * h)?);
            let shape = LstmShape {
                steps,
                batch,
                hidden: h,
            };
            let (h0, c0) = (&state.h[l], &state.c[l]);
            be.lstm_forward(
                shape,
                &self.values[layer.weight_hh],
                &mut gates,
                &mut out,
                &mut cells,
                h0,
                c0,
            )?;
            // the final state [B, H] is the last step's rows
            let (mut h_last, mut c_last) = (be.zeros(batch * h)?, be.zeros(batch * h)?);
            be.copy(&mut h_last, 0, &out, (steps - 1) * batch * h, batch * h)?;
            be.copy(&mut c_last, 0, &cells, (steps - 1) * batch * h, batch * h)?;
            let h0 = std::mem::replace(&mut state.h[l], h_last);
            let c0 = std::mem::replace(&mut state.c[l], c_last);
            let mut next = be.zeros(rows * h)?;
            be.copy(&mut next, 0, &out, 0, rows * h)?;
            let out_mask = drop(&mut next, 1 + l as u64, h)?;
            layers.push(LayerTape {
                input: std::mem::replace(&mut input, next),
                gates,
                cells,
                out,
                h0,
                c0,
                out_mask,
            });
        }
        // logits[T·B, V] = b[V] + top[T·B, H] · Wᵀ[H, V]
        let mut logits = be.zeros(rows * v)?;
        let w = &self.values[self.decoder_weight];
        be.gemm_onto_row(
            &mut logits,
            &self.values[self.decoder_bias],
            &input,
            Layout::Plain,
            w,
            Layout::Transposed,
            rows,
            h,
            v,
        )?;
        Ok((
            logits,
            Tape {
                input_mask,
                layers,
                top: input,
            },
        ))
    }

    /// The mean cross-entropy of a batch (no dropout) into a one-value buffer; `state` advances.
    pub fn loss(&self, be: &B, x: &Batch<B>, state: &mut State<B>) -> Result<B::Buf> {
        let (logits, _) = self.forward(be, x, state, None)?;
        let mut loss = be.zeros(1)?;
        be.softmax_xent(&mut loss, &logits, &x.targets, self.cfg.vocab)?;
        Ok(loss)
    }

    /// One training forward and backward with dropout keyed by `(seed, step)`: gradients
    /// accumulate; returns the mean loss in a one-value buffer (read it only when needed: the
    /// read waits for the device).
    pub fn forward_backward(
        &mut self,
        be: &B,
        x: &Batch<B>,
        state: &mut State<B>,
        seed: u64,
        step: u64,
    ) -> Result<B::Buf> {
        let (d, h, v) = (self.cfg.embed, self.cfg.hidden, self.cfg.vocab);
        let rows = x.steps * x.batch;
        let (mut d_logits, tape) = self.forward(be, x, state, Some((seed, step)))?;
        let mut loss = be.zeros(1)?;
        be.softmax_xent_grad(
            &mut loss,
            &mut d_logits,
            &x.targets,
            v,
            &mut self.grads[self.decoder_bias],
        )?;
        // dW[V, H] += d_logitsᵀ · top ;  d_top[T·B, H] = d_logits · W
        let dec = self.decoder_weight;
        be.gemm(
            &mut self.grads[dec],
            &d_logits,
            Layout::Transposed,
            &tape.top,
            Layout::Plain,
            v,
            rows,
            h,
            true,
        )?;
        let mut d_out = be.zeros(rows * h)?;
        be.gemm(
            &mut d_out,
            &d_logits,
            Layout::Plain,
            &self.values[dec],
            Layout::Plain,
            rows,
            v,
            h,
            false,
        )?;
        drop(d_logits);
        for (layer, t) in self.layers.iter().zip(&tape.layers).rev() {
            if let Some(m) = &t.out_mask {
                be.mul(&mut d_out, m)?;
            }
            let shape = LstmShape {
                steps: x.steps,
                batch: x.batch,
                hidden: h,
            };
            let mut d_gates = be.zeros(rows * 4 * h)?;
            be.lstm_backward(
                shape,
                &self.values[layer.weight_hh],
                &t.gates,
                &t.cells,
                &t.c0,
                &d_out,
                &mut d_gates,
            )?;
            // h_prev[T·B, H] = [h0; out[..T-1]]
            let step_rows = x.batch * h;
            let mut h_prev = be.zeros(rows * h)?;
            be.copy(&mut h_prev, 0, &t.h0, 0, step_rows)?;
            be.copy(&mut h_prev, step_rows, &t.out, 0, (x.steps - 1) * step_rows)?;
            // dW_hh[4H, H] += d_gatesᵀ · h_prev ;  dW_ih[4H, In] += d_gatesᵀ · input
            be.gemm(
                &mut self.grads[layer.weight_hh],
                &d_gates,
                Layout::Transposed,
                &h_prev,
                Layout::Plain,
                4 * h,
                rows,
                h,
                true,
            )?;
            let n_in = layer.input;
            be.gemm(
                &mut self.grads[layer.weight_ih],
                &d_gates,
                Layout::Transposed,
                &t.input,
                Layout::Plain,
                4 * h,
                rows,
                n_in,
                true,
            )?;
            be.column_sums(&mut self.grads[layer.bias_ih], &d_gates, 4 * h, true)?;
            be.column_sums(&mut self.grads[layer.bias_hh], &d_gates, 4 * h, true)?;
            // d_input[T·B, In] = d_gates · W_ih
            let mut d_in = be.zeros(rows * n_in)?;
            be.gemm(
                &mut d_in,
                &d_gates,
                Layout::Plain,
                &self.values[layer.weight_ih],
                Layout::Plain,
                rows,
                4 * h,
                n_in,
                false,
            )?;
            d_out = d_in;
        }
        if let Some(m) = &tape.input_mask {
            be.mul(&mut d_out, m)?;
        }
        // scatter-add d_input[T·B, D] into the embedding rows of the tokens
        be.scatter_add_rows(&mut self.grads[self.embedding], &d_out, &x.tokens, d)?;
        Ok(loss)
    }

    /// SGD over every parameter with `clip_grad_norm_(max_norm)` when given; the norm is
    /// summed and applied on the device. Leaves the gradients zero.
    pub fn sgd_step(&mut self, be: &B, lr: f32, max_norm: Option<f32>) -> Result<()> {
        let mut sum_sq = be.zeros(1)?;
        if max_norm.is_some() {
            for g in &self.grads {
                be.sum_of_squares(&mut sum_sq, g)?;
            }
        }
        for (w, g) in self.values.iter_mut().zip(&mut self.grads) {
            be.sgd(w, g, lr, max_norm.map(|m| (&sum_sq, m)))?;
        }
        Ok(())
    }

    /// Every gradient by name, downloaded.
    pub fn gradients(&self, be: &B) -> Result<Vec<(String, Vec<f32>)>> {
        self.names
            .iter()
            .zip(&self.grads)
            .map(|(n, g)| Ok((n.clone(), be.download(g)?)))
            .collect()
    }

    /// Writes the weights back into `params` by name (for a checkpoint).
    pub fn download_into(&self, be: &B, params: &mut Params) -> Result<()> {
        for (name, value) in self.names.iter().zip(&self.values) {
            let p = params
                .list
                .iter_mut()
                .find(|p| &p.name == name)
                .with_context(|| format!("no tensor {name} to write back"))?;
            p.value = be.download(value)?;
        }
        Ok(())
    }
}

/// One training step (with dropout) of a small model on `be` and on the CPU from the same
/// weights, batch and dropout keys: the loss and every gradient compared, then one SGD step
/// with clipping and the weights compared. This is how a GPU backend proves the whole model.
pub fn check_step_against_cpu<B: Backend>(be: &B) -> Result<Vec<OpCheck>> {
    use crate::compute::cpu::Cpu;
    let plain = LmConfig {
        vocab: 97,
        embed: 24,
        hidden: 24,
        layers: 2,
        dropout: 0.3,
        tied: true,
        locked_dropout: false,
        embedding_dropout: 0.0,
    };
    let variational = LmConfig {
        locked_dropout: true,
        embedding_dropout: 0.2,
        ..plain.clone()
    };
    let mut checks = Vec::new();
    for (label, cfg) in [("lm step", plain), ("lm step, locked + word dropout", variational)] {
        let model = LanguageModel::new(cfg, 4)?;
        let (steps, batch) = (6, 5);
        let mut rng = LanguageModel::rng(1, 0);
        let tokens = model.random_tokens(steps * batch, &mut rng);
        let targets = model.random_tokens(steps * batch, &mut rng);
        let got = one_step(be, &model, &tokens, &targets, steps, batch)?;
        let cpu = one_step(&Cpu, &model, &tokens, &targets, steps, batch)?;
        checks.push(close(format!("{label}: loss"), &got.loss, &cpu.loss));
        for ((name, g), (_, w)) in got.gradients.iter().zip(&cpu.gradients) {
            checks.push(close(format!("{label}: d {name}"), g, w));
        }
        checks.push(close(format!("{label}: weights after SGD"), &got.weights, &cpu.weights));
    }
    Ok(checks)
}

/// `got` against `want` within 1e-4 of the largest |want| (at least 1e-7 absolute).
fn close(op: String, got: &[f32], want: &[f32]) -> OpCheck {
    let want: Vec<f64> = want.iter().map(|w| *w as f64).collect();
    OpCheck::within(&op, got, &want, 1e-4, 1e-3)
}

/// What [`one_step`] leaves: the loss, the gradients by name, every weight after the update.
struct StepResult {
    loss: Vec<f32>,
    gradients: Vec<(String, Vec<f32>)>,
    weights: Vec<f32>,
}

/// One training step of `model` on `be` (dropout keys seed 9, step 3), then SGD lr 1 with
/// clipping at 0.25.
fn one_step<B: Backend>(
    be: &B,
    model: &LanguageModel,
    tokens: &[u32],
    targets: &[u32],
    steps: usize,
    batch: usize,
) -> Result<StepResult> {
    let mut m = LstmLm::new(be, model)?;
    let x = m.batch(be, tokens, targets, steps, batch)?;
    let mut state = m.initial_state(be, batch)?;
    let loss = be.download(&m.forward_backward(be, &x, &mut state, 9, 3)?)?;
    let gradients = m.gradients(be)?;
    m.sgd_step(be, 1.0, Some(0.25))?;
    let mut params = model.params.clone();
    m.download_into(be, &mut params)?;
    let weights = params.list.iter().flat_map(|p| p.value.clone()).collect();
    Ok(StepResult {
        loss,
        gradients,
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;

    /// Without dropout, the model over the CPU backend gives the loss and gradients of the
    /// slice-based `models::cpu_lm` model it was uploaded from.
    #[test]
    fn matches_the_slice_based_model_on_the_cpu() {
        for tied in [true, false] {
            let cfg = LmConfig {
                vocab: 31,
                embed: 12,
                hidden: 12,
                layers: 2,
                dropout: 0.0,
                tied,
                locked_dropout: false,
                embedding_dropout: 0.0,
            };
            let mut reference = LanguageModel::new(cfg, 7).unwrap();
            let (steps, batch) = (4, 3);
            let mut rng = LanguageModel::rng(2, 0);
            let tokens = reference.random_tokens(steps * batch, &mut rng);
            let targets = reference.random_tokens(steps * batch, &mut rng);
            let mut model = LstmLm::new(&Cpu, &reference).unwrap();
            let x = model.batch(&Cpu, &tokens, &targets, steps, batch).unwrap();
            let mut state = model.initial_state(&Cpu, batch).unwrap();
            // two batches, so the second starts from the carried state
            let mut ref_state = reference.initial_state(batch);
            for _ in 0..2 {
                let loss = model.forward_backward(&Cpu, &x, &mut state, 0, 0).unwrap()[0];
                let want = reference.forward_backward(&tokens, &targets, steps, batch, &mut ref_state, &mut rng);
                assert!((loss as f64 - want).abs() < 1e-5, "loss {loss} vs {want}");
            }
            for (name, g) in model.gradients(&Cpu).unwrap() {
                let want = &reference.params.get(&name).unwrap().grad;
                for (a, b) in g.iter().zip(want) {
                    assert!((a - b).abs() < 1e-5 + 1e-4 * b.abs(), "{name}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_whole_step_on_the_cpu_backend_matches_itself_through_the_check() {
        for c in check_step_against_cpu(&Cpu).unwrap() {
            assert!(c.ok && c.max_abs_difference == 0.0, "{c:?}");
        }
    }

    #[test]
    fn bad_batches_are_errors() {
        let cfg = LmConfig {
            vocab: 5,
            embed: 4,
            hidden: 4,
            layers: 1,
            dropout: 0.0,
            tied: true,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        let reference = LanguageModel::new(cfg, 0).unwrap();
        let model = LstmLm::new(&Cpu, &reference).unwrap();
        let e = model.batch(&Cpu, &[1, 9], &[0, 0], 1, 2).err().unwrap();
        assert!(e.to_string().contains("token id 9"), "{e}");
        assert!(model.batch(&Cpu, &[1], &[0, 0], 1, 2).is_err());
    }

    /// Locked dropout repeats one mask per (sequence, feature) at every step, and word dropout
    /// zeroes every occurrence of a dropped word: seen in the embedding rows the forward keeps.
    #[test]
    fn locked_and_word_dropout_masks_have_their_shapes() {
        let cfg = LmConfig {
            vocab: 6,
            embed: 8,
            hidden: 8,
            layers: 1,
            dropout: 0.5,
            tied: true,
            locked_dropout: true,
            embedding_dropout: 0.5,
        };
        let reference = LanguageModel::new(cfg, 0).unwrap();
        let model = LstmLm::new(&Cpu, &reference).unwrap();
        let (steps, batch) = (4, 3);
        // the same word at every position of sequence 0, others vary
        let tokens: Vec<u32> = (0..steps * batch)
            .map(|i| if i % batch == 0 { 2 } else { (i % 5) as u32 })
            .collect();
        let x = model.batch(&Cpu, &tokens, &tokens, steps, batch).unwrap();
        let mut state = model.initial_state(&Cpu, batch).unwrap();
        let (_, tape) = model.forward(&Cpu, &x, &mut state, Some((1, 2))).unwrap();
        let input = tape.input_mask.unwrap();
        // sequence 0 sees word 2 at every step under one locked mask: the same mask each step
        let row = |t: usize, b: usize| &input[(t * batch + b) * 8..(t * batch + b + 1) * 8];
        for t in 1..steps {
            assert_eq!(row(t, 0), row(0, 0));
        }
        let out = tape.layers[0].out_mask.as_ref().unwrap();
        let step_len = batch * 8;
        for t in 1..steps {
            assert_eq!(&out[t * step_len..(t + 1) * step_len], &out[..step_len]);
        }
        assert!(out.contains(&0.0) && out.iter().any(|m| *m > 0.0));
    }
}
