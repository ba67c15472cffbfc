//! The LSTM language model of [`crate::models::lm_weights`] (embedding → dropout → LSTM × L →
//! dropout → decoder, tied by default; PyTorch's word_language_model names) written once over
//! [`Backend`]: `lm train`, `lm eval`, `lm generate`, `bench lstm` and `finetune pretrain` run
//! it on the CPU and on a GPU.
//!
//! Its weights are taken by name from a [`LanguageModel`] (so a run's init and checkpoints
//! serve every device) and given back the same way. Dropout masks come from [`Masks`]: keyed
//! by seed, step and site ([`crate::compute::mask`], drawn on the device, the same on every
//! device), or drawn on the host from the ChaCha stream `lm train` on the CPU has always used.

use super::device_params::{DeviceParams, Slot};
use super::lstm_layer::{LstmLayer, LstmTape};
use crate::compute::suite::OpCheck;
use crate::compute::{mask, Backend, Layout, Tiling};
use crate::models::lm_weights::{LanguageModel, LmConfig};
use crate::nn::activation::{dropout_mask_chacha, locked_mask, word_mask};
use crate::nn::params::Params;
use anyhow::{bail, ensure, Result};
use rand_chacha::ChaCha8Rng;

/// The dropout site of the embedding's word mask (sites 0..=L are the dropouts between layers).
const WORD_SITE: u64 = 1 << 20;

/// Where a step's dropout masks come from.
pub enum Masks<'a> {
    /// No dropout (evaluation, generation).
    Off,
    /// Drawn on the device by [`mask::key`] from (seed, step, site): the same masks on every
    /// device, and any step's made again from its key alone.
    Keyed { seed: u64, step: u64 },
    /// Drawn on the host from a ChaCha stream and uploaded, in the order `lm train` on the CPU
    /// has always drawn them (the word mask, the input's, then each layer's output's), and
    /// applied one at a time as it applied them: the stream README's CPU perplexities came
    /// from.
    Stream(&'a mut ChaCha8Rng),
}

struct Tape<B: Backend> {
    /// The embedding's dropout masks `[T·B, D]`, in the order they were applied: with keyed
    /// masks the word and plain dropout in one, from a stream each on its own.
    input_masks: Vec<B::Buf>,
    layers: Vec<LstmTape<B>>,
    /// The dropout mask of each layer's output `[T·B, H]`, when training with dropout.
    out_masks: Vec<Option<B::Buf>>,
    /// The decoder's input `[N, H]`: the top layer's output after dropout, only the kept rows
    /// when the batch keeps some.
    top: B::Buf,
}

impl<B: Backend> Tape<B> {
    /// Hands the step's large buffers back for the next step's [`Backend::scratch`].
    fn release(self, be: &B) {
        self.layers.into_iter().for_each(|t| t.release(be));
        let masks = self.input_masks.into_iter().chain(self.out_masks.into_iter().flatten());
        masks.chain([self.top]).for_each(|m| be.release(m));
    }
}

/// The (h, c) state of every layer `[B, H]`, carried across batches.
pub struct State<B: Backend> {
    pub h: Vec<B::Buf>,
    pub c: Vec<B::Buf>,
}

/// One batch on the device: tokens `[T, B]`, time-major, and the targets of the rows that
/// count (every row, or those `keep` lists).
pub struct Batch<B: Backend> {
    pub tokens: B::Ids,
    /// The tokens on the host, for word masks drawn there.
    words: Vec<u32>,
    pub targets: B::Ids,
    pub steps: usize,
    pub batch: usize,
    /// The rows of `[T·B]` whose next word is scored, in order, and how many (padded
    /// sentences score only their real tokens); `None` scores every row.
    keep: Option<(B::Ids, usize)>,
}

/// The model's parameters and gradients on one backend.
pub struct LstmLm<B: Backend> {
    pub cfg: LmConfig,
    params: DeviceParams<B>,
    embedding: Slot,
    layers: Vec<LstmLayer>,
    decoder_weight: Slot,
    decoder_bias: Slot,
}

impl<B: Backend> LstmLm<B> {
    /// Uploads `model`'s weights by name, with their lr scales; gradients start at zero.
    pub fn new(be: &B, model: &LanguageModel) -> Result<Self> {
        let cfg = model.cfg.clone();
        let host = &model.params;
        let mut params = DeviceParams::default();
        let embedding = params.upload(be, host, "encoder.weight")?;
        let mut layers = Vec::new();
        for l in 0..cfg.layers {
            let input = if l == 0 { cfg.embed } else { cfg.hidden };
            layers.push(LstmLayer::upload(be, &mut params, host, "rnn", l, input, cfg.hidden)?);
        }
        let decoder_weight = if cfg.tied {
            embedding
        } else {
            params.upload(be, host, "decoder.weight")?
        };
        let decoder_bias = params.upload(be, host, "decoder.bias")?;
        Ok(Self {
            cfg,
            params,
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
        self.check_batch(tokens, targets, steps, batch)?;
        Ok(Batch {
            tokens: be.upload_ids(tokens)?,
            words: tokens.to_vec(),
            targets: be.upload_ids(targets)?,
            steps,
            batch,
            keep: None,
        })
    }

    /// As [`LstmLm::batch`] for padded sentences: only rows whose target is not `pad` are
    /// scored (padding after a sentence's end changes none of its rows, as the LSTM runs
    /// forward). A batch with nothing to score is an error.
    pub fn padded_batch(
        &self,
        be: &B,
        tokens: &[u32],
        targets: &[u32],
        steps: usize,
        batch: usize,
        pad: u32,
    ) -> Result<Batch<B>> {
        self.check_batch(tokens, targets, steps, batch)?;
        let rows: Vec<u32> = (0..targets.len() as u32)
            .filter(|&r| targets[r as usize] != pad)
            .collect();
        ensure!(!rows.is_empty(), "a batch of padding only");
        let kept: Vec<u32> = rows.iter().map(|&r| targets[r as usize]).collect();
        Ok(Batch {
            tokens: be.upload_ids(tokens)?,
            words: tokens.to_vec(),
            targets: be.upload_ids(&kept)?,
            steps,
            batch,
            keep: Some((be.upload_ids(&rows)?, rows.len())),
        })
    }

    /// Tokens and targets `[T, B]`, each id a word of the vocabulary.
    fn check_batch(&self, tokens: &[u32], targets: &[u32], steps: usize, batch: usize) -> Result<()> {
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
        Ok(())
    }

    /// Forward over a batch: the logits `[N, V]` and the tape; `state` advances to the
    /// final states.
    fn forward(&self, be: &B, x: &Batch<B>, state: &mut State<B>, masks: Masks<'_>) -> Result<(B::Buf, Tape<B>)> {
        let (d, h, v) = (self.cfg.embed, self.cfg.hidden, self.cfg.vocab);
        let (steps, batch) = (x.steps, x.batch);
        let rows = steps * batch;
        let values = self.params.split_values();
        let mut drop = Dropout {
            masks,
            locked: self.cfg.locked_dropout,
            batch,
        };
        // input[T·B, D] = embedding rows of the tokens, words dropped, then dropped
        let mut input = be.scratch(rows * d)?;
        be.gather_rows(&mut input, &values[self.embedding], &x.tokens, d)?;
        let word_mask = drop.words(be, &mut input, self.cfg.embedding_dropout, x, v, d)?;
        let input_mask = drop.apply(be, &mut input, self.cfg.dropout, 0, d)?;
        let input_masks = match (word_mask, input_mask) {
            // keyed: one mask for backward, the product of both
            (Some(mut w), Some(m)) if drop.keyed() => {
                be.mul(&mut w, &m)?;
                be.release(m);
                vec![w]
            }
            (w, m) => w.into_iter().chain(m).collect(),
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut out_masks = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            // the layer starts from the carried state and leaves its last step's rows [B, H]
            let h0 = std::mem::replace(&mut state.h[l], be.zeros(batch * h)?);
            let c0 = std::mem::replace(&mut state.c[l], be.zeros(batch * h)?);
            let tape = layer.forward(be, values, input, (steps, batch), (h0, c0))?;
            be.copy(&mut state.h[l], 0, &tape.out, (steps - 1) * batch * h, batch * h)?;
            be.copy(&mut state.c[l], 0, &tape.cells, (steps - 1) * batch * h, batch * h)?;
            let mut next = be.scratch(rows * h)?;
            be.copy(&mut next, 0, &tape.out, 0, rows * h)?;
            out_masks.push(drop.apply(be, &mut next, self.cfg.dropout, 1 + l as u64, h)?);
            layers.push(tape);
            input = next;
        }
        // only the scored rows go through the decoder: top[N, H]
        let (top, n) = match &x.keep {
            Some((ids, n)) => {
                let mut kept = be.scratch(n * h)?;
                be.gather_rows(&mut kept, &input, ids, h)?;
                be.release(input);
                (kept, *n)
            }
            None => (input, rows),
        };
        // logits[N, V] = b[V] + top[N, H] · Wᵀ[H, V]
        let mut logits = be.scratch(n * v)?;
        be.gemm_onto_row(
            &mut logits,
            &values[self.decoder_bias],
            &top,
            Layout::Plain,
            &values[self.decoder_weight],
            Layout::Transposed,
            n,
            h,
            v,
        )?;
        Ok((
            logits,
            Tape {
                input_masks,
                layers,
                out_masks,
                top,
            },
        ))
    }

    /// The mean cross-entropy of a batch (no dropout) into a one-value buffer; `state` advances.
    pub fn loss(&self, be: &B, x: &Batch<B>, state: &mut State<B>) -> Result<B::Loss> {
        let (logits, _) = self.forward(be, x, state, Masks::Off)?;
        let mut loss = be.zero_loss()?;
        be.softmax_xent(&mut loss, &logits, &x.targets, self.cfg.vocab)?;
        Ok(loss)
    }

    /// The logits `[T·B, V]` of tokens `[T, B]` (no dropout); `state` advances.
    pub fn logits(&self, be: &B, tokens: &[u32], steps: usize, batch: usize, state: &mut State<B>) -> Result<B::Buf> {
        // the forward reads no targets: the tokens stand in for them
        let x = self.batch(be, tokens, tokens, steps, batch)?;
        let (logits, tape) = self.forward(be, &x, state, Masks::Off)?;
        tape.release(be);
        Ok(logits)
    }

    /// One training forward and backward with dropout masks from `masks`: gradients
    /// accumulate; returns the mean loss (read it only when needed: on a GPU the read waits
    /// for the device).
    pub fn forward_backward(
        &mut self,
        be: &B,
        x: &Batch<B>,
        state: &mut State<B>,
        masks: Masks<'_>,
    ) -> Result<B::Loss> {
        let (d, h, v) = (self.cfg.embed, self.cfg.hidden, self.cfg.vocab);
        let rows = x.steps * x.batch;
        let (mut d_logits, tape) = self.forward(be, x, state, masks)?;
        let n = be.len(&d_logits) / v;
        let (values, grads) = self.params.split_mut();
        let mut loss = be.zero_loss()?;
        be.softmax_xent_grad(&mut loss, &mut d_logits, &x.targets, v, &mut grads[self.decoder_bias])?;
        // dW[V, H] += d_logitsᵀ · top ;  d_top[N, H] = d_logits · W
        let dec = self.decoder_weight;
        be.gemm(
            &mut grads[dec],
            &d_logits,
            Layout::Transposed,
            &tape.top,
            Layout::Plain,
            v,
            n,
            h,
            true,
        )?;
        let mut d_top = be.scratch(n * h)?;
        be.gemm(
            &mut d_top,
            &d_logits,
            Layout::Plain,
            &values[dec],
            Layout::Plain,
            n,
            v,
            h,
            false,
        )?;
        be.release(d_logits);
        // d_out[T·B, H]: the scored rows' gradients in place, zero elsewhere
        let mut d_out = match &x.keep {
            Some((ids, _)) => {
                let mut all = be.zeros(rows * h)?;
                be.scatter_add_rows(&mut all, &d_top, ids, h)?;
                be.release(d_top);
                all
            }
            None => d_top,
        };
        for ((layer, t), m) in self.layers.iter().zip(&tape.layers).zip(&tape.out_masks).rev() {
            if let Some(m) = m {
                be.mul(&mut d_out, m)?;
            }
            let d_in = layer.backward(be, values, grads, t, &d_out)?;
            be.release(std::mem::replace(&mut d_out, d_in));
        }
        for m in tape.input_masks.iter().rev() {
            be.mul(&mut d_out, m)?;
        }
        // scatter-add d_input[T·B, D] into the embedding rows of the tokens
        be.scatter_add_rows(&mut grads[self.embedding], &d_out, &x.tokens, d)?;
        be.release(d_out);
        tape.release(be);
        Ok(loss)
    }

    /// SGD over every parameter with `clip_grad_norm_(max_norm)` when given; the norm is
    /// summed and applied on the device. Leaves the gradients zero.
    pub fn sgd_step(&mut self, be: &B, lr: f32, max_norm: Option<f32>) -> Result<()> {
        self.params.sgd_step(be, lr, max_norm)
    }

    /// The parameters, for checkpoints, optimizer state and lr scales.
    pub fn params(&self) -> &DeviceParams<B> {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut DeviceParams<B> {
        &mut self.params
    }

    /// Every gradient by name, downloaded.
    pub fn gradients(&self, be: &B) -> Result<Vec<(String, Vec<f32>)>> {
        self.params.gradients(be)
    }

    /// Writes the weights back into `params` by name (for a checkpoint).
    pub fn download_into(&self, be: &B, params: &mut Params) -> Result<()> {
        self.params.download_into(be, params)
    }
}

/// A step's dropouts, drawn from its [`Masks`] in the order the forward asks.
struct Dropout<'a> {
    masks: Masks<'a>,
    /// Variational dropout: one `[B, width]` mask repeated at every step.
    locked: bool,
    batch: usize,
}

impl Dropout<'_> {
    fn keyed(&self) -> bool {
        matches!(self.masks, Masks::Keyed { .. })
    }

    /// Multiplies `values` `[T·B, width]` by a fresh mask of probability `p` (dropout site
    /// `site` when keyed) and returns the mask, or `None` without dropout.
    fn apply<B: Backend>(
        &mut self,
        be: &B,
        values: &mut B::Buf,
        p: f32,
        site: u64,
        width: usize,
    ) -> Result<Option<B::Buf>> {
        let (locked, batch) = (self.locked, self.batch);
        let tiling = if locked {
            Tiling::Repeat(batch * width)
        } else {
            Tiling::Each
        };
        self.masked(be, values, p, site, tiling, |len, rng| {
            if locked {
                locked_mask(len, batch, width, p, rng)
            } else {
                dropout_mask_chacha(len, p, rng)
            }
        })
    }

    /// Embedding dropout over the rows `[T·B, width]` of `x`'s tokens: every occurrence of
    /// a dropped word of the `vocab` is zeroed.
    fn words<B: Backend>(
        &mut self,
        be: &B,
        values: &mut B::Buf,
        p: f32,
        x: &Batch<B>,
        vocab: usize,
        width: usize,
    ) -> Result<Option<B::Buf>> {
        let tiling = Tiling::ByWord { ids: &x.tokens, width };
        self.masked(be, values, p, WORD_SITE, tiling, |_, rng| {
            word_mask(&x.words, vocab, width, p, rng)
        })
    }

    /// Multiplies `values` by a fresh mask of probability `p` and returns it: keyed, made on
    /// the device by `tiling` at `site`; from a stream, `host(len, rng)` uploaded.
    fn masked<B: Backend>(
        &mut self,
        be: &B,
        values: &mut B::Buf,
        p: f32,
        site: u64,
        tiling: Tiling<'_, B::Ids>,
        host: impl FnOnce(usize, &mut ChaCha8Rng) -> Vec<f32>,
    ) -> Result<Option<B::Buf>> {
        let len = be.len(values);
        let mask = match &mut self.masks {
            _ if p == 0.0 => return Ok(None),
            Masks::Off => return Ok(None),
            Masks::Keyed { seed, step } => {
                let mut m = be.scratch(len)?;
                be.dropout_mask(&mut m, p, mask::key(*seed, *step, site), tiling)?;
                m
            }
            Masks::Stream(rng) => be.upload_vec(host(len, rng))?,
        };
        be.mul(values, &mask)?;
        Ok(Some(mask))
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
        // no sum on the device may depend on thread timing (atomics), or a resumed run drifts
        let again = one_step(be, &model, &tokens, &targets, steps, batch)?;
        let bits = |r: &StepResult| -> Vec<f32> {
            let grads = r.gradients.iter().flat_map(|(_, g)| g.iter().copied());
            r.loss
                .iter()
                .copied()
                .chain(grads)
                .chain(r.weights.iter().copied())
                .collect()
        };
        let first: Vec<f64> = bits(&got).iter().map(|v| *v as f64).collect();
        checks.push(OpCheck::within(
            &format!("{label}, run twice: the same bits"),
            &bits(&again),
            &first,
            0.0,
            1.0,
        ));
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
    let loss = vec![be.read_loss_f32(&m.forward_backward(be, &x, &mut state, Masks::Keyed { seed: 9, step: 3 })?)?];
    let gradients = m.gradients(be)?;
    m.sgd_step(be, 1.0, Some(0.25))?;
    let mut params = model.params.clone();
    m.download_into(be, &mut params)?;
    let weights = params.iter().flat_map(|p| p.value.clone()).collect();
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

    /// Finite differences of the loss against `forward_backward` (no dropout, so both see the
    /// same function), for every parameter, tied and untied; the loss is the CPU's f64.
    fn check_gradients(tied: bool) {
        let cfg = LmConfig::plain(7, 4, 4, 2, tied);
        let host = LanguageModel::new(cfg, 3).unwrap();
        let (steps, batch) = (3, 2);
        let mut rng = LanguageModel::rng(0, 0);
        let tokens = host.random_tokens(steps * batch, &mut rng);
        let targets = host.random_tokens(steps * batch, &mut rng);
        let loss_of = |host: &LanguageModel| {
            let m = LstmLm::new(&Cpu, host).unwrap();
            let x = m.batch(&Cpu, &tokens, &targets, steps, batch).unwrap();
            m.loss(&Cpu, &x, &mut m.initial_state(&Cpu, batch).unwrap()).unwrap()
        };
        let mut model = LstmLm::new(&Cpu, &host).unwrap();
        let x = model.batch(&Cpu, &tokens, &targets, steps, batch).unwrap();
        let mut state = model.initial_state(&Cpu, batch).unwrap();
        let loss = model.forward_backward(&Cpu, &x, &mut state, Masks::Off).unwrap();
        assert_eq!(loss, loss_of(&host), "the training loss is the evaluation loss");
        let eps = 1e-2;
        for (name, grad) in model.gradients(&Cpu).unwrap() {
            for (k, analytic) in grad.iter().enumerate() {
                let at = |delta: f32| {
                    let mut m = host.clone();
                    m.params.iter_mut().find(|p| p.name == name).unwrap().value[k] += delta;
                    loss_of(&m)
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                let analytic = *analytic as f64;
                assert!(
                    (numeric - analytic).abs() < 2e-4 + 1e-2 * analytic.abs(),
                    "{name}[{k}]: numeric {numeric} analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn tied_gradients_match_finite_differences() {
        check_gradients(true);
    }

    #[test]
    fn untied_gradients_match_finite_differences() {
        check_gradients(false);
    }

    #[test]
    fn the_whole_step_on_the_cpu_backend_matches_itself_through_the_check() {
        for c in check_step_against_cpu(&Cpu).unwrap() {
            assert!(c.ok && c.max_abs_difference == 0.0, "{c:?}");
        }
    }

    #[test]
    fn bad_batches_are_errors() {
        let cfg = LmConfig::plain(5, 4, 4, 1, true);
        let reference = LanguageModel::new(cfg, 0).unwrap();
        let model = LstmLm::new(&Cpu, &reference).unwrap();
        let e = model.batch(&Cpu, &[1, 9], &[0, 0], 1, 2).err().unwrap();
        assert!(e.to_string().contains("token id 9"), "{e}");
        assert!(model.batch(&Cpu, &[1], &[0, 0], 1, 2).is_err());
    }

    /// A padded batch scores only real targets: its loss is the mean over them of the full
    /// batch's per-row cross-entropy, and what stands in the padded positions changes nothing.
    #[test]
    fn padded_batches_score_only_real_targets() {
        let cfg = LmConfig::plain(9, 6, 5, 1, false);
        let reference = LanguageModel::new(cfg, 3).unwrap();
        let model = LstmLm::new(&Cpu, &reference).unwrap();
        // two sequences, time-major [T=4, B=2]: lengths 4 and 2 (0 pads)
        let tokens = [3, 5, 4, 6, 7, 0, 2, 0];
        let targets = [4, 6, 7, 0, 2, 0, 8, 0];
        let x = model.padded_batch(&Cpu, &tokens, &targets, 4, 2, 0).unwrap();
        let mut state = model.initial_state(&Cpu, 2).unwrap();
        let got = model.loss(&Cpu, &x, &mut state).unwrap();
        let full = model.batch(&Cpu, &tokens, &targets, 4, 2).unwrap();
        let mut state = model.initial_state(&Cpu, 2).unwrap();
        let (logits, _) = model.forward(&Cpu, &full, &mut state, Masks::Off).unwrap();
        let mut sum = 0.0;
        let mut n = 0;
        for (row, &t) in logits.chunks_exact(9).zip(&targets) {
            if t == 0 {
                continue;
            }
            let max = row.iter().fold(f32::MIN, |m, v| m.max(*v)) as f64;
            let z: f64 = row.iter().map(|v| (*v as f64 - max).exp()).sum();
            sum += z.ln() + max - row[t as usize] as f64;
            n += 1;
        }
        assert_eq!(n, 5);
        assert!((got - sum / 5.0).abs() < 1e-5, "{got} vs {}", sum / 5.0);
        let other_pads = [3, 5, 4, 6, 7, 1, 2, 8];
        let y = model.padded_batch(&Cpu, &other_pads, &targets, 4, 2, 0).unwrap();
        let mut state = model.initial_state(&Cpu, 2).unwrap();
        assert_eq!(model.loss(&Cpu, &y, &mut state).unwrap(), got);
        let e = model.padded_batch(&Cpu, &tokens, &[0; 8], 4, 2, 0).err().unwrap();
        assert!(e.to_string().contains("padding only"), "{e}");
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
        let (_, tape) = model
            .forward(&Cpu, &x, &mut state, Masks::Keyed { seed: 1, step: 2 })
            .unwrap();
        let input = &tape.input_masks[0];
        // sequence 0 sees word 2 at every step under one locked mask: the same mask each step
        let row = |t: usize, b: usize| &input[(t * batch + b) * 8..(t * batch + b + 1) * 8];
        for t in 1..steps {
            assert_eq!(row(t, 0), row(0, 0));
        }
        let out = tape.out_masks[0].as_ref().unwrap();
        let step_len = batch * 8;
        for t in 1..steps {
            assert_eq!(&out[t * step_len..(t + 1) * step_len], &out[..step_len]);
        }
        assert!(out.contains(&0.0) && out.iter().any(|m| *m > 0.0));
    }
}
