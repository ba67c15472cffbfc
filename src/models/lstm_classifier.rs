//! The text classifier of the pre-training/fine-tuning article, written once over [`Backend`]:
//! embedding → dropout → LSTM (one layer) → pooling over each text's real steps → dropout →
//! `fc`. Two classes use one output and a sigmoid (Keras's `Dense(1, 'sigmoid')` with binary
//! cross-entropy); more use a softmax.
//!
//! Names are the language model's (`encoder.weight`, `rnn.*_l0`) so a pre-trained LM's
//! embedding and LSTM load by name; `fc.weight` `[out, P]` and `fc.bias` are new.
//!
//! Texts are padded after their end, so every padded step comes after the real ones: the LSTM's
//! real outputs do not depend on padding, pooling reads only real steps, and no gradient reaches
//! a padded step. The sigmoid is computed as a two-class softmax over `[0, z]`, which is the
//! same function (σ(z) = e^z / (e^0 + e^z)) and reuses the backend's softmax.

use super::device_params::{DeviceParams, Slot};
use super::lstm_layer::{LstmLayer, LstmTape};
use crate::compute::{mask, Backend, Layout, Tiling};
use crate::nn::params::{Init, Params};
use anyhow::{bail, ensure, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// How the LSTM's outputs over a text become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The mean over real steps (Keras's masked `GlobalAveragePooling1D`): `P = H`.
    Mean,
    /// ULMFiT's concat pooling `[last, max, mean]`: `P = 3H`.
    Concat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Embedding rows (padding id 0 included).
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub classes: usize,
    pub pool: Pool,
    /// Dropout on the embedding output (Keras's LSTM `dropout`) and on the pooled vector.
    pub input_dropout: f32,
    pub dropout: f32,
}

impl ClassifierConfig {
    /// The pooled width `P`.
    pub fn pooled(&self) -> usize {
        match self.pool {
            Pool::Mean => self.hidden,
            Pool::Concat => 3 * self.hidden,
        }
    }

    /// Outputs of `fc`: one logit for two classes (a sigmoid), else one per class.
    pub fn outputs(&self) -> usize {
        if self.classes == 2 {
            1
        } else {
            self.classes
        }
    }

    /// Fresh weights: the embedding uniform in ±0.05 (Keras's `Embedding`), the LSTM and `fc`
    /// as PyTorch initialises them (uniform in ±1/√fan).
    pub fn init(&self, seed: u64) -> Result<Params> {
        ensure!(self.classes >= 2, "a classifier needs at least two classes");
        ensure!(
            self.vocab > 1 && self.embed > 0 && self.hidden > 0,
            "empty classifier sizes {self:?}"
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (v, d, h, p, out) = (self.vocab, self.embed, self.hidden, self.pooled(), self.outputs());
        let mut params = Params::default();
        params.add("encoder.weight", &[v, d], Init::Uniform { bound: 0.05 }, true, &mut rng);
        let lstm = Init::Uniform {
            bound: 1.0 / (h as f32).sqrt(),
        };
        params.add("rnn.weight_ih_l0", &[4 * h, d], lstm, true, &mut rng);
        params.add("rnn.weight_hh_l0", &[4 * h, h], lstm, true, &mut rng);
        params.add("rnn.bias_ih_l0", &[4 * h], lstm, true, &mut rng);
        params.add("rnn.bias_hh_l0", &[4 * h], lstm, true, &mut rng);
        let fc = Init::Uniform {
            bound: 1.0 / (p as f32).sqrt(),
        };
        params.add("fc.weight", &[out, p], fc, true, &mut rng);
        params.add("fc.bias", &[out], fc, true, &mut rng);
        Ok(params)
    }
}

/// A batch of texts on the device, padded after each end to the longest, time-major `[T, B]`.
pub struct TextBatch<B: Backend> {
    tokens: B::Ids,
    labels: B::Ids,
    lengths: B::Ids,
    steps: usize,
    batch: usize,
    /// Mean pooling as a product: `[B, T·B]` with `1/len_b` where step `t < len_b` of text `b`
    /// stands.
    mean: B::Buf,
    /// The row of each text's last real step, `(len_b − 1)·B + b`.
    last_rows: B::Ids,
    /// With concat pooling: the rows of the `[last; max; mean]` stack `[3·B, H]` that make
    /// pooled `[B, 3H]` (row `b·3 + k` is row `k·B + b`).
    concat_rows: Option<B::Ids>,
}

struct Tape<B: Backend> {
    input_mask: Option<B::Buf>,
    lstm: LstmTape<B>,
    /// Where max pooling took each value (concat pooling).
    argmax: Option<B::Ids>,
    /// The pooled vector `[B, P]` after dropout, and its mask.
    pooled: B::Buf,
    pooled_mask: Option<B::Buf>,
    /// `fc` as the two-class (or C-class) weight `[C, P]` the softmax sees.
    weight: B::Buf,
}

pub struct LstmClassifier<B: Backend> {
    pub cfg: ClassifierConfig,
    params: DeviceParams<B>,
    embedding: Slot,
    lstm: LstmLayer,
    fc_weight: Slot,
    fc_bias: Slot,
}

impl<B: Backend> LstmClassifier<B> {
    /// Uploads the weights of `host` (made by [`ClassifierConfig::init`] or loaded by name).
    pub fn new(be: &B, cfg: ClassifierConfig, host: &Params) -> Result<Self> {
        let mut params = DeviceParams::default();
        let embedding = params.upload(be, host, "encoder.weight")?;
        let lstm = LstmLayer::upload(be, &mut params, host, "rnn", 0, cfg.embed, cfg.hidden)?;
        let fc_weight = params.upload(be, host, "fc.weight")?;
        let fc_bias = params.upload(be, host, "fc.bias")?;
        Ok(Self {
            cfg,
            params,
            embedding,
            lstm,
            fc_weight,
            fc_bias,
        })
    }

    /// Pads `texts` (ids, each non-empty) after their ends and uploads them with `labels`.
    pub fn batch(&self, be: &B, texts: &[&[u32]], labels: &[u32]) -> Result<TextBatch<B>> {
        let batch = texts.len();
        ensure!(
            batch > 0 && labels.len() == batch,
            "a batch of {batch} texts and {} labels",
            labels.len()
        );
        let steps = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        if let Some(i) = texts.iter().position(|t| t.is_empty()) {
            bail!("text {i} of the batch has no word");
        }
        let v = self.cfg.vocab as u32;
        if let Some(bad) = texts.iter().flat_map(|t| t.iter()).find(|&&id| id >= v) {
            bail!("token id {bad} outside the vocabulary of {v}");
        }
        if let Some(bad) = labels.iter().find(|&&l| l as usize >= self.cfg.classes) {
            bail!("label {bad} outside {} classes", self.cfg.classes);
        }
        let mut tokens = vec![0u32; steps * batch];
        let mut mean = vec![0f32; batch * steps * batch];
        for (b, text) in texts.iter().enumerate() {
            for (t, &id) in text.iter().enumerate() {
                tokens[t * batch + b] = id;
                mean[b * steps * batch + t * batch + b] = 1.0 / text.len() as f32;
            }
        }
        let lengths: Vec<u32> = texts.iter().map(|t| t.len() as u32).collect();
        let last: Vec<u32> = (0..batch).map(|b| (lengths[b] - 1) * batch as u32 + b as u32).collect();
        let concat_rows = match self.cfg.pool {
            Pool::Concat => {
                let ids: Vec<u32> = (0..batch)
                    .flat_map(|b| (0..3).map(move |k| (k * batch + b) as u32))
                    .collect();
                Some(be.upload_ids(&ids)?)
            }
            Pool::Mean => None,
        };
        Ok(TextBatch {
            tokens: be.upload_ids(&tokens)?,
            labels: be.upload_ids(labels)?,
            lengths: be.upload_ids(&lengths)?,
            steps,
            batch,
            mean: be.upload(&mean)?,
            last_rows: be.upload_ids(&last)?,
            concat_rows,
        })
    }

    /// Forward: the logits `[B, C]` the softmax sees (`[0, z]` for two classes) and the tape.
    fn forward(&self, be: &B, x: &TextBatch<B>, dropout: Option<(u64, u64)>) -> Result<(B::Buf, Tape<B>)> {
        let (d, h, p) = (self.cfg.embed, self.cfg.hidden, self.cfg.pooled());
        let (steps, batch) = (x.steps, x.batch);
        let rows = steps * batch;
        let values = self.params.split_values();
        let drop = |buf: &mut B::Buf, p: f32, site: u64| -> Result<Option<B::Buf>> {
            match dropout {
                Some((seed, step)) if p > 0.0 => {
                    let mut m = be.scratch(be.len(buf))?;
                    be.dropout_mask(&mut m, p, mask::key(seed, step, site), Tiling::Each)?;
                    be.mul(buf, &m)?;
                    Ok(Some(m))
                }
                _ => Ok(None),
            }
        };
        // input[T·B, D] = embedding rows of the tokens, dropped
        let mut input = be.scratch(rows * d)?;
        be.gather_rows(&mut input, &values[self.embedding], &x.tokens, d)?;
        let input_mask = drop(&mut input, self.cfg.input_dropout, 0)?;
        let zeros = (be.zeros(batch * h)?, be.zeros(batch * h)?);
        let lstm = self.lstm.forward(be, values, input, (steps, batch), zeros)?;
        // mean[B, H] = M[B, T·B] · out[T·B, H]
        let mut mean = be.zeros(batch * h)?;
        be.gemm(
            &mut mean,
            &x.mean,
            Layout::Plain,
            &lstm.out,
            Layout::Plain,
            batch,
            rows,
            h,
            false,
        )?;
        let (mut pooled, argmax) = match &x.concat_rows {
            None => (mean, None),
            Some(rows_of) => {
                // stack[3·B, H] = [last; max; mean], then row b·3 + k of pooled[B, 3H] is row k·B + b
                let mut stack = be.zeros(3 * batch * h)?;
                let mut part = be.zeros(batch * h)?;
                be.gather_rows(&mut part, &lstm.out, &x.last_rows, h)?;
                be.copy(&mut stack, 0, &part, 0, batch * h)?;
                let mut argmax = be.ids_for_output(batch * h)?;
                be.max_over_steps(&mut part, &mut argmax, &lstm.out, &x.lengths, h)?;
                be.copy(&mut stack, batch * h, &part, 0, batch * h)?;
                be.copy(&mut stack, 2 * batch * h, &mean, 0, batch * h)?;
                let mut pooled = be.zeros(batch * p)?;
                be.gather_rows(&mut pooled, &stack, rows_of, h)?;
                (pooled, Some(argmax))
            }
        };
        let pooled_mask = drop(&mut pooled, self.cfg.dropout, 1)?;
        // logits[B, C] = bias + pooled[B, P] · Wᵀ, the weight and bias placed after a zero row
        // for two classes
        let (weight, bias) = self.head(be)?;
        let classes = self.cfg.classes;
        let mut logits = be.zeros(batch * classes)?;
        be.gemm_onto_row(
            &mut logits,
            &bias,
            &pooled,
            Layout::Plain,
            &weight,
            Layout::Transposed,
            batch,
            p,
            classes,
        )?;
        Ok((
            logits,
            Tape {
                input_mask,
                lstm,
                argmax,
                pooled,
                pooled_mask,
                weight,
            },
        ))
    }

    /// Where `fc` stands in the softmax's weight `[C, P]` and bias `[C]`: after a zero row for
    /// two classes (the logit pair `[0, z]`), else the whole.
    fn head_offset(&self) -> usize {
        usize::from(self.cfg.classes == 2)
    }

    fn head(&self, be: &B) -> Result<(B::Buf, B::Buf)> {
        let (p, c, out, at) = (
            self.cfg.pooled(),
            self.cfg.classes,
            self.cfg.outputs(),
            self.head_offset(),
        );
        let values = self.params.split_values();
        let (mut weight, mut bias) = (be.zeros(c * p)?, be.zeros(c)?);
        be.copy(&mut weight, at * p, &values[self.fc_weight], 0, out * p)?;
        be.copy(&mut bias, at, &values[self.fc_bias], 0, out)?;
        Ok((weight, bias))
    }

    /// From one forward without dropout: the batch's mean cross-entropy in a one-value buffer,
    /// and its logits `[B, C]` (for two classes `[0, z]`: class 1 when z > 0).
    pub fn loss(&self, be: &B, x: &TextBatch<B>) -> Result<(B::Loss, B::Buf)> {
        let (logits, _) = self.forward(be, x, None)?;
        let mut loss = be.zero_loss()?;
        be.softmax_xent(&mut loss, &logits, &x.labels, self.cfg.classes)?;
        Ok((loss, logits))
    }

    /// One training forward and backward with dropout keyed by `(seed, step)`: gradients
    /// accumulate; returns the batch's mean loss in a one-value buffer and the logits `[B, C]`
    /// the step saw (training accuracy without a second pass).
    pub fn forward_backward(&mut self, be: &B, x: &TextBatch<B>, seed: u64, step: u64) -> Result<(B::Loss, B::Buf)> {
        let (d, h, p, c) = (self.cfg.embed, self.cfg.hidden, self.cfg.pooled(), self.cfg.classes);
        let (out, at) = (self.cfg.outputs(), self.head_offset());
        let (batch, rows) = (x.batch, x.steps * x.batch);
        let (mut d_logits, tape) = self.forward(be, x, Some((seed, step)))?;
        let (values, grads) = self.params.split_mut();
        let mut logits = be.zeros(batch * c)?;
        be.copy(&mut logits, 0, &d_logits, 0, batch * c)?;
        let mut loss = be.zero_loss()?;
        let mut d_bias = be.zeros(c)?;
        be.softmax_xent_grad(&mut loss, &mut d_logits, &x.labels, c, &mut d_bias)?;
        // dW[C, P] = d_logitsᵀ · pooled ; d_pooled[B, P] = d_logits · W ; fc's rows added back
        let mut d_weight = be.zeros(c * p)?;
        be.gemm(
            &mut d_weight,
            &d_logits,
            Layout::Transposed,
            &tape.pooled,
            Layout::Plain,
            c,
            batch,
            p,
            false,
        )?;
        let mut d_pooled = be.zeros(batch * p)?;
        be.gemm(
            &mut d_pooled,
            &d_logits,
            Layout::Plain,
            &tape.weight,
            Layout::Plain,
            batch,
            c,
            p,
            false,
        )?;
        let mut part = be.zeros(out * p)?;
        be.copy(&mut part, 0, &d_weight, at * p, out * p)?;
        be.add(&mut grads[self.fc_weight], &part)?;
        let mut part = be.zeros(out)?;
        be.copy(&mut part, 0, &d_bias, at, out)?;
        be.add(&mut grads[self.fc_bias], &part)?;
        if let Some(m) = &tape.pooled_mask {
            be.mul(&mut d_pooled, m)?;
        }
        // back through pooling into d_out[T·B, H]
        let mut d_out = be.zeros(rows * h)?;
        let d_mean = match (&x.concat_rows, &tape.argmax) {
            (Some(rows_of), Some(argmax)) => {
                let mut d_stack = be.zeros(3 * batch * h)?;
                be.scatter_add_rows(&mut d_stack, &d_pooled, rows_of, h)?;
                let mut part = be.zeros(batch * h)?;
                be.copy(&mut part, 0, &d_stack, 0, batch * h)?;
                be.scatter_add_rows(&mut d_out, &part, &x.last_rows, h)?;
                be.copy(&mut part, 0, &d_stack, batch * h, batch * h)?;
                be.scatter_add_rows(&mut d_out, &part, argmax, 1)?;
                be.copy(&mut part, 0, &d_stack, 2 * batch * h, batch * h)?;
                part
            }
            _ => d_pooled,
        };
        // d_out[T·B, H] += Mᵀ[T·B, B] · d_mean[B, H]
        be.gemm(
            &mut d_out,
            &x.mean,
            Layout::Transposed,
            &d_mean,
            Layout::Plain,
            rows,
            batch,
            h,
            true,
        )?;
        let mut d_in = self.lstm.backward(be, values, grads, &tape.lstm, &d_out)?;
        if let Some(m) = &tape.input_mask {
            be.mul(&mut d_in, m)?;
        }
        be.scatter_add_rows(&mut grads[self.embedding], &d_in, &x.tokens, d)?;
        // the step's large buffers serve the next one
        be.release(d_in);
        be.release(d_out);
        tape.input_mask.into_iter().for_each(|m| be.release(m));
        tape.lstm.release(be);
        Ok((loss, logits))
    }

    pub fn params(&self) -> &DeviceParams<B> {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut DeviceParams<B> {
        &mut self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;

    fn cfg(classes: usize, pool: Pool) -> ClassifierConfig {
        ClassifierConfig {
            vocab: 7,
            embed: 4,
            hidden: 3,
            classes,
            pool,
            input_dropout: 0.0,
            dropout: 0.0,
        }
    }

    const TEXTS: [&[u32]; 3] = [&[3, 1, 4], &[6], &[2, 5, 5, 1]];

    fn loss_of(cfg: &ClassifierConfig, host: &Params, labels: &[u32]) -> f64 {
        let m = LstmClassifier::new(&Cpu, cfg.clone(), host).unwrap();
        let x = m.batch(&Cpu, &TEXTS, labels).unwrap();
        m.loss(&Cpu, &x).unwrap().0
    }

    /// Finite differences of the loss against `forward_backward` for every weight, with
    /// sigmoid and softmax heads and both poolings (the max's argmax included).
    #[test]
    fn gradients_match_finite_differences() {
        for (classes, pool, labels) in [
            (2, Pool::Mean, [1, 0, 1]),
            (3, Pool::Mean, [2, 0, 1]),
            (2, Pool::Concat, [0, 1, 1]),
            (3, Pool::Concat, [1, 2, 0]),
        ] {
            let cfg = cfg(classes, pool);
            let host = cfg.init(5).unwrap();
            let mut m = LstmClassifier::new(&Cpu, cfg.clone(), &host).unwrap();
            let x = m.batch(&Cpu, &TEXTS, &labels).unwrap();
            let loss = m.forward_backward(&Cpu, &x, 0, 0).unwrap().0;
            assert!((loss - loss_of(&cfg, &host, &labels)).abs() < 1e-6);
            let grads = m.params().gradients(&Cpu).unwrap();
            let eps = 1e-3;
            for (pi, (name, g)) in grads.iter().enumerate() {
                for (k, analytic) in g.iter().enumerate() {
                    let at = |delta: f32| {
                        let mut h = host.clone();
                        h[pi].value[k] += delta;
                        loss_of(&cfg, &h, &labels)
                    };
                    let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                    let analytic = *analytic as f64;
                    assert!(
                        (numeric - analytic).abs() < 3e-4 + 1e-2 * analytic.abs(),
                        "{classes} classes, {pool:?}: {name}[{k}] numeric {numeric} analytic {analytic}"
                    );
                }
            }
            // padding's embedding row gets no gradient
            assert!(grads[0].1[..4].iter().all(|g| *g == 0.0));
        }
    }

    #[test]
    fn two_classes_take_one_output_and_bad_batches_are_errors() {
        let cfg = cfg(2, Pool::Mean);
        let host = cfg.init(0).unwrap();
        assert_eq!(host.get("fc.weight").unwrap().shape, [1, 3]);
        let m = LstmClassifier::new(&Cpu, cfg, &host).unwrap();
        let e = |texts: &[&[u32]], labels: &[u32]| m.batch(&Cpu, texts, labels).err().unwrap().to_string();
        assert!(e(&[&[1], &[]], &[0, 1]).contains("no word"));
        assert!(e(&[&[9]], &[0]).contains("token id 9"));
        assert!(e(&[&[1]], &[2]).contains("label 2"));
        assert!(e(&[&[1]], &[0, 1]).contains("labels"));
    }

    /// torch.nn's Embedding, LSTM, masked pooling and Linear with the same weights and padded
    /// texts (tools/gen_lstm_classifier_reference.py): loss, logits and every gradient.
    #[test]
    fn matches_torch_within_1e_5() {
        use crate::models::fixture::{floats, u32s};
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/lstm_classifier_reference.json")).unwrap();
        let texts: Vec<Vec<u32>> = fixture["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        let texts: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
        let sizes = &fixture["sizes"];
        for (name, case) in fixture["cases"].as_object().unwrap() {
            let classes = case["classes"].as_u64().unwrap() as usize;
            let cfg = ClassifierConfig {
                vocab: sizes["vocab"].as_u64().unwrap() as usize,
                embed: sizes["embed"].as_u64().unwrap() as usize,
                hidden: sizes["hidden"].as_u64().unwrap() as usize,
                classes,
                pool: if case["pool"] == "mean" {
                    Pool::Mean
                } else {
                    Pool::Concat
                },
                input_dropout: 0.0,
                dropout: 0.0,
            };
            let mut host = cfg.init(0).unwrap();
            for p in host.iter_mut() {
                p.value = floats(&case["weights"][&p.name]);
            }
            let labels = u32s(&case["labels"]);
            let mut m = LstmClassifier::new(&Cpu, cfg, &host).unwrap();
            let x = m.batch(&Cpu, &texts, &labels).unwrap();
            let (loss, logits) = m.forward_backward(&Cpu, &x, 0, 0).unwrap();
            let want = case["loss"].as_f64().unwrap();
            assert!((loss - want).abs() < 1e-5, "{name}: loss {loss} vs {want}");
            // two classes: the softmax saw [0, z]; torch's logit is z
            let got: Vec<f32> = if classes == 2 {
                logits.chunks_exact(2).map(|r| r[1]).collect()
            } else {
                logits
            };
            for (g, w) in got.iter().zip(floats(&case["logits"])) {
                assert!((g - w).abs() < 1e-5, "{name}: logit {g} vs {w}");
            }
            for (pname, g) in m.params().gradients(&Cpu).unwrap() {
                let want = floats(&case["grads"][&pname]);
                assert_eq!(g.len(), want.len(), "{name}: {pname}");
                for (a, b) in g.iter().zip(want) {
                    assert!((a - b).abs() < 1e-5, "{name}: d {pname}: {a} vs {b}");
                }
            }
        }
    }
}
