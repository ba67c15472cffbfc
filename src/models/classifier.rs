//! The word-vector classifiers of NLP 100 Knocks ch. 8, written once over [`Backend`]: a
//! single-layer network (no bias, N(0,1) weights, as the article's `SLPNet`) and an MLP of
//! Linear → BatchNorm → ReLU → Dropout blocks. The article's `MLPNet` ends in a ReLU on the
//! logits, which clips every negative score to 0; this MLP leaves logits linear.
//!
//! Dropout masks are drawn on the host from the caller's ChaCha stream (the epoch's, which also
//! shuffles) and uploaded: on the CPU the results are those of the slice model this replaced,
//! bit for bit, and a GPU trains with the very same masks.

use super::device_params::DeviceParams;
use super::layers::batch_norm::{BatchNorm, BatchNormTape};
use super::layers::linear::Linear;
use crate::compute::Backend;
use crate::nn::activation::dropout_mask;
use crate::nn::params::{Init, Params};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Arch {
    /// `fc.weight [L, d]`, no bias.
    Slp,
    /// `hidden.{i}.fc`, `hidden.{i}.bn` per hidden size, then `out`.
    Mlp {
        hidden: Vec<usize>,
        batch_norm: bool,
        dropout: f32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub input_dim: usize,
    pub classes: usize,
}

impl ModelSpec {
    pub fn uses_batch_norm(&self) -> bool {
        matches!(self.arch, Arch::Mlp { batch_norm: true, .. })
    }
}

struct Block<B: Backend> {
    fc: Linear,
    bn: Option<BatchNorm<B>>,
}

pub struct Classifier<B: Backend> {
    pub spec: ModelSpec,
    /// Names, shapes and (after [`Classifier::to_host`]) values, for checkpoints.
    host: Params,
    params: DeviceParams<B>,
    blocks: Vec<Block<B>>,
    out: Linear,
    dropout: f32,
}

/// Activations a training forward keeps for backward.
pub struct Tape<B: Backend> {
    /// The input `[B, d]`.
    input: B::Buf,
    rows: usize,
    blocks: Vec<BlockTape<B>>,
}

struct BlockTape<B: Backend> {
    bn: Option<BatchNormTape<B>>,
    /// The ReLU's output `[B, H]` (its backward's mask).
    activated: B::Buf,
    /// Dropout's mask and what the next layer saw, both `[B, H]`.
    dropped: Option<(B::Buf, B::Buf)>,
}

impl<B: Backend> BlockTape<B> {
    /// What the next layer saw `[B, H]`.
    fn output(&self) -> &B::Buf {
        self.dropped.as_ref().map_or(&self.activated, |(_, out)| out)
    }
}

impl<B: Backend> Classifier<B> {
    /// The initial weights of `spec` on the host; `seed` fixes them.
    pub fn init(spec: &ModelSpec, seed: u64) -> Params {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut host = Params::default();
        match &spec.arch {
            Arch::Slp => {
                let init = Init::Normal { mean: 0.0, std: 1.0 };
                host.add("fc.weight", &[spec.classes, spec.input_dim], init, true, &mut rng);
            }
            Arch::Mlp { hidden, batch_norm, .. } => {
                let mut width = spec.input_dim;
                for (i, &h) in hidden.iter().enumerate() {
                    Linear::init(&mut host, &format!("hidden.{i}.fc"), width, h, &mut rng);
                    if *batch_norm {
                        BatchNorm::<B>::init(&mut host, &format!("hidden.{i}.bn"), h, &mut rng);
                    }
                    width = h;
                }
                Linear::init(&mut host, "out", width, spec.classes, &mut rng);
            }
        }
        host
    }

    /// A freshly initialised model on `be`; `seed` fixes the initial weights.
    pub fn new(be: &B, spec: ModelSpec, seed: u64) -> Result<Self> {
        let host = Self::init(&spec, seed);
        Self::upload(be, spec, host)
    }

    /// The model of `spec` with the weights of `host` (made by [`Classifier::init`], perhaps
    /// loaded from a checkpoint since).
    pub fn upload(be: &B, spec: ModelSpec, host: Params) -> Result<Self> {
        let mut params = DeviceParams::default();
        let mut blocks = Vec::new();
        let (out, dropout) = match &spec.arch {
            Arch::Slp => (
                Linear::upload_without_bias(be, &mut params, &host, "fc", spec.input_dim, spec.classes)?,
                0.0,
            ),
            Arch::Mlp {
                hidden,
                batch_norm,
                dropout,
            } => {
                let mut width = spec.input_dim;
                for (i, &h) in hidden.iter().enumerate() {
                    let fc = Linear::upload(be, &mut params, &host, &format!("hidden.{i}.fc"), width, h)?;
                    let bn = match batch_norm {
                        true => Some(BatchNorm::upload(be, &mut params, &host, &format!("hidden.{i}.bn"), h)?),
                        false => None,
                    };
                    blocks.push(Block { fc, bn });
                    width = h;
                }
                let out = Linear::upload(be, &mut params, &host, "out", width, spec.classes)?;
                (out, *dropout)
            }
        };
        Ok(Self {
            spec,
            host,
            params,
            blocks,
            out,
            dropout,
        })
    }

    /// Training forward: `x` `[B, d]` → logits `[B, L]`. BatchNorm uses batch statistics
    /// (B ≥ 2); dropout masks are drawn from `rng`, block by block.
    pub fn forward_train(&mut self, be: &B, x: B::Buf, rows: usize, rng: &mut impl Rng) -> Result<(B::Buf, Tape<B>)> {
        let mut tapes: Vec<BlockTape<B>> = Vec::with_capacity(self.blocks.len());
        let values = self.params.split_values();
        for block in &mut self.blocks {
            let input = tapes.last().map_or(&x, BlockTape::output);
            // [B, H] = b + input · Wᵀ
            let h = block.fc.forward(be, values, input, rows)?;
            // the ReLU after the BatchNorm in its pass, or alone
            let (h, bn) = match &mut block.bn {
                Some(bn) => {
                    let (out, tape) = bn.forward(be, values, h, true, true)?;
                    (out, Some(tape))
                }
                None => {
                    let mut h = h;
                    be.relu(&mut h)?;
                    (h, None)
                }
            };
            let dropped = if self.dropout > 0.0 {
                let n = be.len(&h);
                let mask = be.upload(&dropout_mask(n, self.dropout, rng))?;
                let mut out = be.scratch(n)?;
                be.copy(&mut out, 0, &h, 0, n)?;
                be.mul(&mut out, &mask)?;
                Some((mask, out))
            } else {
                None
            };
            tapes.push(BlockTape {
                bn,
                activated: h,
                dropped,
            });
        }
        let last = tapes.last().map_or(&x, BlockTape::output);
        let logits = self.out.forward(be, values, last, rows)?;
        Ok((
            logits,
            Tape {
                input: x,
                rows,
                blocks: tapes,
            },
        ))
    }

    /// Accumulates parameter gradients from d loss / d logits `[B, L]`.
    pub fn backward(&mut self, be: &B, tape: Tape<B>, dlogits: &B::Buf) -> Result<()> {
        let rows = tape.rows;
        let split = self.params.split_mut();
        let last = tape.blocks.last().map_or(&tape.input, BlockTape::output);
        if self.blocks.is_empty() {
            return self.out.weight_grads(be, split.1, last, dlogits, rows);
        }
        let mut dy = self.out.backward(be, (split.0, &mut *split.1), last, dlogits, rows)?;
        for (i, (block, t)) in self.blocks.iter().zip(&tape.blocks).enumerate().rev() {
            if let Some((mask, _)) = &t.dropped {
                be.mul(&mut dy, mask)?;
            }
            match (&block.bn, &t.bn) {
                (Some(bn), Some(bt)) => dy = bn.backward(be, (split.0, &mut *split.1), bt, &dy, Some(&t.activated))?,
                _ => be.relu_backward(&mut dy, &t.activated)?,
            }
            let input = if i == 0 {
                &tape.input
            } else {
                tape.blocks[i - 1].output()
            };
            if i == 0 {
                block.fc.weight_grads(be, split.1, input, &dy, rows)?;
            } else {
                dy = block.fc.backward(be, (split.0, &mut *split.1), input, &dy, rows)?;
            }
        }
        for t in tape.blocks {
            if let Some((_, out)) = t.dropped {
                be.release(out);
            }
        }
        Ok(())
    }

    /// Eval forward: `x` `[B, d]` → logits `[B, L]`, BatchNorm with running statistics, no
    /// dropout.
    pub fn logits(&mut self, be: &B, x: &B::Buf, rows: usize) -> Result<B::Buf> {
        let values = self.params.split_values();
        let mut h: Option<B::Buf> = None;
        for block in &mut self.blocks {
            let next = block.fc.forward(be, values, h.as_ref().unwrap_or(x), rows)?;
            let next = match &mut block.bn {
                Some(bn) => bn.forward(be, values, next, false, true)?.0,
                None => {
                    let mut next = next;
                    be.relu(&mut next)?;
                    next
                }
            };
            h = Some(next);
        }
        self.out.forward(be, values, h.as_ref().unwrap_or(x), rows)
    }

    pub fn params(&self) -> &DeviceParams<B> {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut DeviceParams<B> {
        &mut self.params
    }

    /// The weights and BatchNorm's running statistics, read back by name (for a checkpoint).
    pub fn to_host(&mut self, be: &B) -> Result<&mut Params> {
        self.params.download_into(be, &mut self.host)?;
        for bn in self.blocks.iter().filter_map(|b| b.bn.as_ref()) {
            bn.download_into(be, &mut self.host)?;
        }
        Ok(&mut self.host)
    }

    /// What a checkpoint writes: the parameters on the device, and the host's names with
    /// BatchNorm's running statistics read back (the weights are read back by the writer).
    pub fn checkpoint_parts(&mut self, be: &B) -> Result<(&DeviceParams<B>, &mut Params)> {
        for bn in self.blocks.iter().filter_map(|b| b.bn.as_ref()) {
            bn.download_into(be, &mut self.host)?;
        }
        Ok((&self.params, &mut self.host))
    }

    /// Values that are updated by training (for the report).
    pub fn trainable_count(&self) -> usize {
        self.host.trainable_count()
    }
}

/// As the command line writes it: `slp`, `mlp --hidden 256 --dropout 0.2`.
impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Arch::Slp => write!(f, "slp"),
            Arch::Mlp {
                hidden,
                batch_norm,
                dropout,
            } => {
                let sizes: Vec<String> = hidden.iter().map(usize::to_string).collect();
                write!(f, "mlp --hidden {} --dropout {dropout}", sizes.join(","))?;
                if !batch_norm {
                    write!(f, " --no-batch-norm")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use crate::nn::loss::cross_entropy;

    fn loss_of(spec: &ModelSpec, host: &Params, x: &[f32], y: &[u32]) -> f32 {
        let mut model = Classifier::upload(&Cpu, spec.clone(), host.clone()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (logits, _) = model.forward_train(&Cpu, x.to_vec(), y.len(), &mut rng).unwrap();
        cross_entropy(&logits, y, spec.classes).0
    }

    /// Central finite differences against the analytic gradient, for every trainable parameter.
    fn gradient_check(arch: Arch) {
        let spec = ModelSpec {
            arch,
            input_dim: 5,
            classes: 3,
        };
        let host = Classifier::<Cpu>::init(&spec, 3);
        let mut model = Classifier::upload(&Cpu, spec.clone(), host.clone()).unwrap();
        let x: Vec<f32> = (0..20).map(|i| (i * 7 % 11) as f32 / 5.0 - 1.0).collect();
        let y = [0u32, 2, 1, 2];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (logits, tape) = model.forward_train(&Cpu, x.clone(), 4, &mut rng).unwrap();
        let (_, dlogits) = cross_entropy(&logits, &y, 3);
        model.backward(&Cpu, tape, &dlogits).unwrap();
        let grads = model.params().gradients(&Cpu).unwrap();
        assert!(!grads.is_empty());
        let eps = 1e-3;
        for (name, grad) in grads {
            let pi = host.iter().position(|p| p.name == name).unwrap();
            for (k, analytic) in grad.into_iter().enumerate() {
                let (mut plus, mut minus) = (host.clone(), host.clone());
                plus[pi].value[k] += eps;
                minus[pi].value[k] -= eps;
                let numeric = (loss_of(&spec, &plus, &x, &y) - loss_of(&spec, &minus, &x, &y)) / (2.0 * eps);
                assert!(
                    (numeric - analytic).abs() < 2e-3 + 2e-2 * analytic.abs(),
                    "{name}[{k}]: numeric {numeric} analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn slp_gradient_matches_finite_differences() {
        gradient_check(Arch::Slp);
    }

    #[test]
    fn mlp_batchnorm_gradient_matches_finite_differences() {
        gradient_check(Arch::Mlp {
            hidden: vec![6, 4],
            batch_norm: true,
            dropout: 0.0,
        });
    }

    #[test]
    fn mlp_dropout_gradient_matches_finite_differences() {
        gradient_check(Arch::Mlp {
            hidden: vec![6],
            batch_norm: false,
            dropout: 0.3,
        });
    }
}
