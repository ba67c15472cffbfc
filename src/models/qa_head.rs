//! The heads trained on LUKE features for multiple-choice QA (`qa train`), written once over
//! [`Backend`]. Input: features `[N, C, H]` (C = 1 for the article's choice-0 features, or
//! one row per choice). Output: logits `[N, options]`, trained with the softmax cross-entropy.
//!
//! - `linear`: `fc` over the flattened `[N, C·H]`.
//! - `mlp`: `fc1` → ReLU → `fc2` over `[N, C·H]`.
//! - `scorer`: the same two layers shared by every choice, `[N·C, H]` → one score each; the
//!   scores of a question are its logits (how multiple-choice heads are meant to work).
//! - `cnn`: the article's network on each `H`-vector reshaped to a `rows × cols` image:
//!   Conv(1→32, 3), BN, ReLU, Conv(32→64, 3), BN, ReLU, MaxPool 2, flatten in torch's
//!   (channel, y, x) order, BN1d, FC 128, ReLU, BN1d, FC `options`. (The article ends with
//!   `log_softmax` before `CrossEntropyLoss`; log-softmax of log-softmax is itself, so that
//!   changes nothing but rounding and is left out.)

use super::device_params::{Adam, DeviceParams};
use super::layers::batch_norm::{BatchNorm, BatchNormTape};
use super::layers::conv2d::{Conv2d, Conv2dTape, Grid};
use super::layers::ids_cache::IdsCache;
use super::layers::linear::Linear;
use super::layers::max_pool2d::{self, MaxPoolTape};
use crate::compute::Backend;
use crate::nn::params::Params;
use anyhow::{bail, ensure, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    Linear,
    Mlp,
    Scorer,
    Cnn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadConfig {
    pub kind: HeadKind,
    /// Feature rows per question (`C`) and their width (`H`).
    pub choices: usize,
    pub hidden: usize,
    /// Answer choices: the logits per question.
    pub options: usize,
    /// Width of the hidden layer (mlp, scorer, the cnn's `fc1`).
    pub width: usize,
    /// cnn: the image each `H`-vector becomes (`rows · cols = H`), and the two convolutions'
    /// channels.
    pub image: (usize, usize),
    pub channels: (usize, usize),
}

impl HeadConfig {
    /// The article's CNN on 768 features: a 24×32 image, 32 and 64 channels, fc1 of 128, five
    /// choices.
    pub fn article() -> Self {
        Self {
            kind: HeadKind::Cnn,
            choices: 1,
            hidden: 768,
            options: 5,
            width: 128,
            image: (24, 32),
            channels: (32, 64),
        }
    }

    /// The cnn's flattened width after the pool: `c2 · ((rows − 4) / 2) · ((cols − 4) / 2)`.
    pub fn flat(&self) -> usize {
        self.channels.1 * (self.image.0.saturating_sub(4) / 2) * (self.image.1.saturating_sub(4) / 2)
    }

    pub fn check(&self) -> Result<()> {
        ensure!(
            self.choices > 0 && self.hidden > 0 && self.width > 0,
            "a head needs features and a width"
        );
        ensure!(
            self.options >= 2,
            "a question needs 2 answer choices or more, not {}",
            self.options
        );
        match self.kind {
            HeadKind::Scorer if self.choices != self.options => bail!(
                "the scorer head scores every choice's features: write them with `qa features --choices all` (these have {} row(s) per question for {} choices)",
                self.choices,
                self.options
            ),
            HeadKind::Cnn => {
                let (r, c) = self.image;
                ensure!(
                    self.choices == 1,
                    "the cnn head reads one feature row per question (`qa features --choices first`), not {}",
                    self.choices
                );
                ensure!(
                    r * c == self.hidden,
                    "the cnn's image {r}×{c} needs {} features per question, and these have {}",
                    r * c,
                    self.hidden
                );
                ensure!(r >= 6 && c >= 6, "the cnn's image {r}×{c} is smaller than its two 3×3 convolutions and pool need (6×6)");
                ensure!(self.channels.0 > 0 && self.channels.1 > 0, "the cnn needs channels");
            }
            _ => {}
        }
        Ok(())
    }
}

/// The layers of each head.
enum Net<B: Backend> {
    Linear(Linear),
    /// `fc1`, `fc2`; the scorer runs them over `[N·C, H]`.
    Mlp(Linear, Linear),
    Cnn(Box<Cnn<B>>),
}

struct Cnn<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm<B>,
    bn3: BatchNorm<B>,
    fc1: Linear,
    bn4: BatchNorm<B>,
    fc2: Linear,
    /// Per batch size: where each value of the flattened `[N, c2·P]` sits in the pooled
    /// `[N·P, c2]`, and the other way round (the backward's gather).
    flatten: IdsCache<B, usize>,
    unflatten: IdsCache<B, usize>,
}

pub struct QaHead<B: Backend> {
    pub cfg: HeadConfig,
    params: DeviceParams<B>,
    net: Net<B>,
}

/// What one training forward keeps for the backward.
enum Tape<B: Backend> {
    Linear,
    Mlp { hidden: B::Buf },
    Cnn(Box<CnnTape<B>>),
}

struct CnnTape<B: Backend> {
    conv1: Conv2dTape<B>,
    bn1: BatchNormTape<B>,
    relu1: B::Buf,
    conv2: Conv2dTape<B>,
    bn2: BatchNormTape<B>,
    /// The pooling's output `[N·PH·PW, c2]` (the ReLU's output at each maximum, all its
    /// backward needs of it).
    pooled: B::Buf,
    pool: MaxPoolTape<B>,
    bn3: BatchNormTape<B>,
    normed: B::Buf,
    bn4: BatchNormTape<B>,
    fc2_in: B::Buf,
}

impl<B: Backend> CnnTape<B> {
    /// Hands the image-sized buffers (the second convolution's output is 14 MB at the
    /// article's batch of 100) back for the next step's.
    fn release(self, be: &B) {
        for buf in [self.bn1.into_input(), self.relu1, self.bn2.into_input(), self.pooled] {
            be.release(buf);
        }
    }
}

impl<B: Backend> QaHead<B> {
    /// Fresh weights under PyTorch's names with torch's default inits, drawn from `seed`.
    pub fn init(cfg: &HeadConfig, seed: u64) -> Result<Params> {
        cfg.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rng = &mut rng;
        let mut host = Params::default();
        let (h, w, o) = (cfg.hidden, cfg.width, cfg.options);
        match cfg.kind {
            HeadKind::Linear => Linear::init(&mut host, "fc", cfg.choices * h, o, rng),
            HeadKind::Mlp => {
                Linear::init(&mut host, "fc1", cfg.choices * h, w, rng);
                Linear::init(&mut host, "fc2", w, o, rng);
            }
            HeadKind::Scorer => {
                Linear::init(&mut host, "fc1", h, w, rng);
                Linear::init(&mut host, "fc2", w, 1, rng);
            }
            HeadKind::Cnn => {
                let (c1, c2) = cfg.channels;
                Conv2d::<B>::init(&mut host, "conv1", 1, c1, 3, rng);
                BatchNorm::<B>::init(&mut host, "bn1", c1, rng);
                Conv2d::<B>::init(&mut host, "conv2", c1, c2, 3, rng);
                BatchNorm::<B>::init(&mut host, "bn2", c2, rng);
                BatchNorm::<B>::init(&mut host, "bn3", cfg.flat(), rng);
                Linear::init(&mut host, "fc1", cfg.flat(), w, rng);
                BatchNorm::<B>::init(&mut host, "bn4", w, rng);
                Linear::init(&mut host, "fc2", w, o, rng);
            }
        }
        Ok(host)
    }

    /// The head with `host`'s weights on `be`.
    pub fn upload(be: &B, cfg: &HeadConfig, host: &Params) -> Result<Self> {
        cfg.check()?;
        let mut params = DeviceParams::default();
        let p = &mut params;
        let (h, w, o) = (cfg.hidden, cfg.width, cfg.options);
        let net = match cfg.kind {
            HeadKind::Linear => Net::Linear(Linear::upload(be, p, host, "fc", cfg.choices * h, o)?),
            HeadKind::Mlp => Net::Mlp(
                Linear::upload(be, p, host, "fc1", cfg.choices * h, w)?,
                Linear::upload(be, p, host, "fc2", w, o)?,
            ),
            HeadKind::Scorer => Net::Mlp(
                Linear::upload(be, p, host, "fc1", h, w)?,
                Linear::upload(be, p, host, "fc2", w, 1)?,
            ),
            HeadKind::Cnn => {
                let (c1, c2) = cfg.channels;
                Net::Cnn(Box::new(Cnn {
                    conv1: Conv2d::upload(be, p, host, "conv1", (1, c1, 3))?,
                    bn1: BatchNorm::upload(be, p, host, "bn1", c1)?,
                    conv2: Conv2d::upload(be, p, host, "conv2", (c1, c2, 3))?,
                    bn2: BatchNorm::upload(be, p, host, "bn2", c2)?,
                    bn3: BatchNorm::upload(be, p, host, "bn3", cfg.flat())?,
                    fc1: Linear::upload(be, p, host, "fc1", cfg.flat(), w)?,
                    bn4: BatchNorm::upload(be, p, host, "bn4", w)?,
                    fc2: Linear::upload(be, p, host, "fc2", w, o)?,
                    flatten: IdsCache::new(),
                    unflatten: IdsCache::new(),
                }))
            }
        };
        Ok(Self { cfg: *cfg, params, net })
    }

    /// Logits `[N, options]` of features `x` `[N, C·H]`; batch statistics when `train`.
    fn forward(&mut self, be: &B, x: &B::Buf, n: usize, train: bool) -> Result<(B::Buf, Tape<B>)> {
        let values = self.params.split_values();
        let rows = match self.cfg.kind {
            HeadKind::Scorer => n * self.cfg.choices,
            _ => n,
        };
        match &mut self.net {
            Net::Linear(fc) => Ok((fc.forward(be, values, x, n)?, Tape::Linear)),
            Net::Mlp(fc1, fc2) => {
                let mut hidden = fc1.forward(be, values, x, rows)?;
                be.relu(&mut hidden)?;
                // the scorer's [N·C, 1] scores are its [N, C] logits
                let logits = fc2.forward(be, values, &hidden, rows)?;
                Ok((logits, Tape::Mlp { hidden }))
            }
            Net::Cnn(cnn) => {
                let (logits, tape) = cnn.forward(be, values, &self.cfg, x, n, train)?;
                Ok((logits, Tape::Cnn(Box::new(tape))))
            }
        }
    }

    /// Evaluation logits `[N, options]` of features `x` `[N, C·H]` (running statistics).
    pub fn logits(&mut self, be: &B, x: &B::Buf, n: usize) -> Result<B::Buf> {
        let (logits, tape) = self.forward(be, x, n, false)?;
        if let Tape::Cnn(tape) = tape {
            tape.release(be);
        }
        Ok(logits)
    }

    /// Evaluation: the batch's mean cross-entropy (one value) and its logits `[N, options]`.
    pub fn loss(&mut self, be: &B, x: &B::Buf, labels: &B::Ids, n: usize) -> Result<(B::Loss, B::Buf)> {
        let logits = self.logits(be, x, n)?;
        let mut loss = be.zero_loss()?;
        be.softmax_xent(&mut loss, &logits, labels, self.cfg.options)?;
        Ok((loss, logits))
    }

    /// One training forward and backward: gradients accumulate; returns the mean loss (one
    /// value) and the logits `[N, options]` the step saw.
    pub fn forward_backward(&mut self, be: &B, x: &B::Buf, labels: &B::Ids, n: usize) -> Result<(B::Loss, B::Buf)> {
        let o = self.cfg.options;
        let (mut d_logits, tape) = self.forward(be, x, n, true)?;
        let mut logits = be.zeros(n * o)?;
        be.copy(&mut logits, 0, &d_logits, 0, n * o)?;
        let (mut loss, mut unused_bias) = (be.zero_loss()?, be.zeros(o)?);
        be.softmax_xent_grad(&mut loss, &mut d_logits, labels, o, &mut unused_bias)?;
        let grads = self.params.split_mut();
        match (&self.net, tape) {
            (Net::Linear(fc), Tape::Linear) => fc.weight_grads(be, grads.1, x, &d_logits, n)?,
            (Net::Mlp(fc1, fc2), Tape::Mlp { hidden }) => {
                let rows = be.len(&hidden) / fc1.outputs;
                let (values, grads) = grads;
                let mut d_hidden = fc2.backward(be, (values, &mut *grads), &hidden, &d_logits, rows)?;
                be.relu_backward(&mut d_hidden, &hidden)?;
                fc1.weight_grads(be, grads, x, &d_hidden, rows)?;
            }
            (Net::Cnn(cnn), Tape::Cnn(tape)) => {
                cnn.backward(be, grads, &tape, x, &d_logits, n)?;
                tape.release(be);
            }
            _ => unreachable!("each net makes its own tape"),
        }
        Ok((loss, logits))
    }

    /// One AdamW step over every parameter; leaves the gradients zero.
    pub fn adam_step(&mut self, be: &B, lr: f32, adam: Adam) -> Result<()> {
        self.params.adam_step(be, lr, adam, 1.0)
    }

    pub fn params(&self) -> &DeviceParams<B> {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut DeviceParams<B> {
        &mut self.params
    }

    /// Writes weights and batch-norm statistics back into `host` (for a checkpoint).
    pub fn download_into(&self, be: &B, host: &mut Params) -> Result<()> {
        self.params.download_into(be, host)?;
        if let Net::Cnn(cnn) = &self.net {
            for bn in [&cnn.bn1, &cnn.bn2, &cnn.bn3, &cnn.bn4] {
                bn.download_into(be, host)?;
            }
        }
        Ok(())
    }
}

impl<B: Backend> Cnn<B> {
    fn forward(
        &mut self,
        be: &B,
        values: &[B::Buf],
        cfg: &HeadConfig,
        x: &B::Buf,
        n: usize,
        train: bool,
    ) -> Result<(B::Buf, CnnTape<B>)> {
        let c2 = cfg.channels.1;
        let g0 = Grid {
            n,
            h: cfg.image.0,
            w: cfg.image.1,
        };
        // x [N, H] is the channels-last image [N·rows·cols, 1]
        let (y, conv1) = self.conv1.forward(be, values, x, g0)?; // [N·22·30, c1]
        let (relu1, bn1) = self.bn1.forward(be, values, y, train, true)?;
        let g1 = self.conv1.output_grid(g0);
        let (y, conv2) = self.conv2.forward(be, values, &relu1, g1)?; // [N·20·28, c2]
        let g2 = self.conv2.output_grid(g1);
        // bn2, its ReLU and the pooling in one: [N·20·28, c2] → [N·10·14, c2]
        let (pooled, bn2, pool) = self.bn2.forward_pooled(be, values, y, train, g2)?;
        let pixels = max_pool2d::pooled_grid(g2);
        let per = pixels.h * pixels.w;
        // flat[n, c·P + p] = pooled[(n·P + p)·c2 + c]: torch's view(-1, c2·P) of [N, c2, PH, PW]
        let flatten = self.flatten.get(be, n, || {
            let mut ids = Vec::with_capacity(n * c2 * per);
            for i in 0..n {
                for c in 0..c2 {
                    for p in 0..per {
                        ids.push(((i * per + p) * c2 + c) as u32);
                    }
                }
            }
            ids
        })?;
        let mut flat = be.scratch(n * c2 * per)?; // every value gathered
        be.gather_rows(&mut flat, &pooled, &flatten, 1)?;
        let (normed, bn3) = self.bn3.forward(be, values, flat, train, false)?; // [N, flat]
        let mut relu3 = self.fc1.forward(be, values, &normed, n)?; // [N, width]
        be.relu(&mut relu3)?;
        let (fc2_in, bn4) = self.bn4.forward(be, values, relu3, train, false)?; // bn4's input is the ReLU's output
        let logits = self.fc2.forward(be, values, &fc2_in, n)?;
        Ok((
            logits,
            CnnTape {
                conv1,
                bn1,
                relu1,
                conv2,
                bn2,
                pooled,
                pool,
                bn3,
                normed,
                bn4,
                fc2_in,
            },
        ))
    }

    fn backward(
        &self,
        be: &B,
        (values, grads): (&[B::Buf], &mut [B::Buf]),
        t: &CnnTape<B>,
        x: &B::Buf,
        d_logits: &B::Buf,
        n: usize,
    ) -> Result<()> {
        // each gradient goes back to the backend once the next is made from it, so the next
        // step's take its memory instead of fresh zeroed blocks (5% of the epoch was zero fills)
        let d_fc2_in = self.fc2.backward(be, (values, &mut *grads), &t.fc2_in, d_logits, n)?;
        let mut d = self.bn4.backward(be, (values, &mut *grads), &t.bn4, &d_fc2_in, None)?;
        be.release(d_fc2_in);
        be.relu_backward(&mut d, t.bn4.input())?;
        let d_normed = self.fc1.backward(be, (values, &mut *grads), &t.normed, &d, n)?;
        be.release(d);
        let d_flat = self.bn3.backward(be, (values, &mut *grads), &t.bn3, &d_normed, None)?;
        be.release(d_normed);
        // d_pooled[(n·P + p)·c2 + c] = d_flat[n, c·P + p]: the forward's permutation undone
        // by a gather (the pooling's backward adds 0 to each value, so a −0 here changes no
        // bit of what a scatter into zeros gave)
        let (c2, per) = (self.conv2.outputs, be.len(&d_flat) / (n * self.conv2.outputs));
        let unflatten = self.unflatten.get(be, n, || {
            let mut ids = Vec::with_capacity(n * per * c2);
            for i in 0..n {
                for p in 0..per {
                    for c in 0..c2 {
                        ids.push((i * c2 * per + c * per + p) as u32);
                    }
                }
            }
            ids
        })?;
        let mut d_pooled = be.scratch(be.len(&d_flat))?; // every value gathered
        be.gather_rows(&mut d_pooled, &d_flat, &unflatten, 1)?;
        be.release(d_flat);
        // the pooling's backward and bn2's (through its ReLU) in one
        let d_conv2 = self
            .bn2
            .backward_pooled(be, (values, &mut *grads), &t.bn2, &t.pool, (&d_pooled, &t.pooled))?;
        be.release(d_pooled);
        let d_relu1 = self.conv2.backward(be, grads, &t.conv2, &t.relu1, &d_conv2)?;
        be.release(d_conv2);
        let d_conv1 = self
            .bn1
            .backward(be, (values, &mut *grads), &t.bn1, &d_relu1, Some(&t.relu1))?;
        be.release(d_relu1);
        self.conv1.weight_grads(be, grads, &t.conv1, x, &d_conv1)?;
        be.release(d_conv1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use crate::models::fixture::{floats, u32s};
    use serde_json::Value;

    fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: {a} vs torch {b}");
        }
    }

    /// The CNN and the scorer against torch.nn (tools/gen_qa_head_reference.py): training
    /// logits, loss, every gradient and the running statistics after the step, then the
    /// evaluation forward with those statistics.
    #[test]
    fn heads_match_torch() {
        let text = std::fs::read_to_string("tests/fixtures/qa_head_reference.json").unwrap();
        let fixture: Value = serde_json::from_str(&text).unwrap();
        for (name, case) in fixture["cases"].as_object().unwrap() {
            let cfg: HeadConfig = serde_json::from_value(case["config"].clone()).unwrap();
            let mut host = QaHead::<Cpu>::init(&cfg, 0).unwrap();
            for (key, value) in case["weights"].as_object().unwrap() {
                let p = host
                    .iter_mut()
                    .find(|p| &p.name == key)
                    .unwrap_or_else(|| panic!("{name}: no {key}"));
                p.value = floats(value);
            }
            let be = Cpu;
            let mut head = QaHead::upload(&be, &cfg, &host).unwrap();
            let labels = u32s(&case["labels"]);
            let (x, y, n) = (floats(&case["features"]), be.upload_ids(&labels).unwrap(), labels.len());
            let (loss, logits) = head.forward_backward(&be, &x, &y, n).unwrap();
            close(
                &format!("{name} training logits"),
                &logits,
                &floats(&case["train_logits"]),
                1e-4,
            );
            close(
                &format!("{name} training loss"),
                &[loss as f32],
                &[case["train_loss"].as_f64().unwrap() as f32],
                1e-5,
            );
            for (key, g) in head.params().gradients(&be).unwrap() {
                // relative to the tensor's largest value: a conv bias before batch norm has a
                // gradient of zero up to rounding
                let want = floats(&case["grads"][&key]);
                let scale = want.iter().fold(0.1f32, |m, b| m.max(b.abs()));
                let worst = g.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst <= 1e-4 * scale, "{name} d{key}: off by {worst} at scale {scale}");
            }
            head.download_into(&be, &mut host).unwrap();
            for (key, want) in case["running_after"].as_object().unwrap() {
                close(
                    &format!("{name} {key}"),
                    &host.get(key).unwrap().value,
                    &floats(want),
                    1e-5,
                );
            }
            let (loss, logits) = head.loss(&be, &x, &y, n).unwrap();
            close(
                &format!("{name} evaluation logits"),
                &logits,
                &floats(&case["eval_logits"]),
                1e-4,
            );
            close(
                &format!("{name} evaluation loss"),
                &[loss as f32],
                &[case["eval_loss"].as_f64().unwrap() as f32],
                1e-5,
            );
        }
    }

    /// Finite differences against `forward_backward` for the linear and mlp heads (the
    /// others are checked against torch above).
    #[test]
    fn linear_and_mlp_gradients_match_finite_differences() {
        let be = Cpu;
        for kind in [HeadKind::Linear, HeadKind::Mlp] {
            let cfg = HeadConfig {
                kind,
                choices: 2,
                hidden: 3,
                options: 3,
                width: 4,
                image: (0, 0),
                channels: (0, 0),
            };
            let host = QaHead::<Cpu>::init(&cfg, 7).unwrap();
            let x: Vec<f32> = (0..4 * 6).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
            let y = be.upload_ids(&[0, 2, 1, 2]).unwrap();
            let loss_of = |host: &Params| -> f64 {
                let mut h = QaHead::upload(&be, &cfg, host).unwrap();
                h.loss(&be, &x, &y, 4).unwrap().0
            };
            let mut head = QaHead::upload(&be, &cfg, &host).unwrap();
            head.forward_backward(&be, &x, &y, 4).unwrap();
            for (key, grad) in head.params().gradients(&be).unwrap() {
                for (i, g) in grad.iter().enumerate() {
                    let eps = 1e-2;
                    let mut plus = host.clone();
                    let p = plus.iter_mut().find(|p| p.name == key).unwrap();
                    p.value[i] += eps;
                    let mut minus = host.clone();
                    minus.iter_mut().find(|p| p.name == key).unwrap().value[i] -= eps;
                    let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * eps as f64);
                    assert!(
                        (numeric - *g as f64).abs() < 2e-3,
                        "{kind:?} d{key}[{i}]: {g} vs {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn configs_that_cannot_work_are_refused() {
        let base = HeadConfig::article();
        assert_eq!(base.flat(), 8960);
        base.check().unwrap();
        let e = HeadConfig { hidden: 700, ..base }.check().unwrap_err().to_string();
        assert!(e.contains("24×32 needs 768"), "{e}");
        let e = HeadConfig { choices: 5, ..base }.check().unwrap_err().to_string();
        assert!(e.contains("--choices first"), "{e}");
        let e = HeadConfig {
            kind: HeadKind::Scorer,
            ..base
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--choices all"), "{e}");
        let e = HeadConfig {
            image: (4, 192),
            ..base
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("smaller"), "{e}");
    }
}
