//! The word-vector classifiers of NLP 100 Knocks ch. 8: a single-layer network (no bias, N(0,1)
//! weights, as the article's `SLPNet`) and an MLP of Linear → BatchNorm → ReLU → Dropout blocks.
//! The article's `MLPNet` ends in a ReLU on the logits, which clips every negative score to 0;
//! this MLP leaves logits linear.

use crate::nn::activation::{dropout, dropout_backward, relu, relu_backward};
use crate::nn::batchnorm::{BatchNorm1d, BnCache};
use crate::nn::linear::Linear;
use crate::nn::params::{Init, Params};

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

#[derive(Debug, Clone)]
struct Block {
    fc: Linear,
    bn: Option<BatchNorm1d>,
}

#[derive(Debug, Clone)]
pub struct Classifier {
    pub spec: ModelSpec,
    pub params: Params,
    blocks: Vec<Block>,
    out: Linear,
    dropout: f32,
}

/// Activations a training forward keeps for backward.
pub struct Tape<'x> {
    input: &'x [f32],
    batch: usize,
    blocks: Vec<BlockTape>,
}

struct BlockTape {
    bn: Option<BnCache>,
    /// ReLU output `[B, H]` before dropout (the ReLU mask).
    activated: Vec<f32>,
    dropout_mask: Option<Vec<f32>>,
    /// What the next layer saw `[B, H]` (after dropout).
    output: Vec<f32>,
}

impl Classifier {
    /// A freshly initialised model; `seed` fixes the initial weights.
    pub fn new(spec: ModelSpec, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Params::default();
        let mut blocks = Vec::new();
        let (out, dropout) = match &spec.arch {
            Arch::Slp => {
                let init = Some(Init::Normal { mean: 0.0, std: 1.0 });
                (
                    Linear::new(&mut params, "fc", spec.input_dim, spec.classes, false, init, &mut rng),
                    0.0,
                )
            }
            Arch::Mlp {
                hidden,
                batch_norm,
                dropout,
            } => {
                let mut width = spec.input_dim;
                for (i, &h) in hidden.iter().enumerate() {
                    let fc = Linear::new(&mut params, &format!("hidden.{i}.fc"), width, h, true, None, &mut rng);
                    let bn = batch_norm.then(|| BatchNorm1d::new(&mut params, &format!("hidden.{i}.bn"), h, &mut rng));
                    blocks.push(Block { fc, bn });
                    width = h;
                }
                (
                    Linear::new(&mut params, "out", width, spec.classes, true, None, &mut rng),
                    *dropout,
                )
            }
        };
        Self {
            spec,
            params,
            blocks,
            out,
            dropout,
        }
    }

    /// Training forward: x `[B, d]` → logits `[B, L]`. BatchNorm uses batch statistics (B ≥ 2).
    pub fn forward_train<'x>(&mut self, x: &'x [f32], batch: usize, rng: &mut impl Rng) -> (Vec<f32>, Tape<'x>) {
        let mut tapes: Vec<BlockTape> = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let input = tapes.last().map_or(x, |t| t.output.as_slice());
            let mut h = block.fc.forward(&self.params, input, batch);
            let bn = block
                .bn
                .as_ref()
                .map(|bn| bn.forward_train(&mut self.params, &mut h, batch));
            relu(&mut h);
            let (dropout_mask, output) = if self.dropout > 0.0 {
                let mut dropped = h.clone();
                let mask = dropout(&mut dropped, self.dropout, rng);
                (Some(mask), dropped)
            } else {
                (None, h.clone())
            };
            tapes.push(BlockTape {
                bn,
                activated: h,
                dropout_mask,
                output,
            });
        }
        let last = tapes.last().map_or(x, |t| t.output.as_slice());
        let logits = self.out.forward(&self.params, last, batch);
        (
            logits,
            Tape {
                input: x,
                batch,
                blocks: tapes,
            },
        )
    }

    /// Accumulates parameter gradients from d loss / d logits `[B, L]`.
    pub fn backward(&mut self, tape: &Tape, dlogits: &[f32]) {
        let batch = tape.batch;
        let last = tape.blocks.last().map_or(tape.input, |t| t.output.as_slice());
        let mut dy = self
            .out
            .backward(&mut self.params, last, dlogits, batch, !self.blocks.is_empty());
        for i in (0..self.blocks.len()).rev() {
            let (block, t) = (&self.blocks[i], &tape.blocks[i]);
            let mut d = dy.take().expect("a gradient flows into every block");
            if let Some(mask) = &t.dropout_mask {
                dropout_backward(&mut d, mask);
            }
            relu_backward(&mut d, &t.activated);
            if let (Some(bn), Some(cache)) = (&block.bn, &t.bn) {
                bn.backward(&mut self.params, cache, &mut d, batch);
            }
            let input = if i == 0 {
                tape.input
            } else {
                tape.blocks[i - 1].output.as_slice()
            };
            dy = block.fc.backward(&mut self.params, input, &d, batch, i > 0);
        }
    }

    /// Eval forward: x `[B, d]` → logits `[B, L]`, BatchNorm with running statistics, no dropout.
    pub fn logits(&self, x: &[f32], batch: usize) -> Vec<f32> {
        let mut h: Option<Vec<f32>> = None;
        for block in &self.blocks {
            let mut next = block.fc.forward(&self.params, h.as_deref().unwrap_or(x), batch);
            if let Some(bn) = &block.bn {
                bn.forward_eval(&self.params, &mut next);
            }
            relu(&mut next);
            h = Some(next);
        }
        self.out.forward(&self.params, h.as_deref().unwrap_or(x), batch)
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
    use crate::nn::loss::cross_entropy;

    fn loss_of(model: &mut Classifier, x: &[f32], y: &[u32]) -> f32 {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (logits, _) = model.forward_train(x, y.len(), &mut rng);
        cross_entropy(&logits, y, model.spec.classes).0
    }

    /// Central finite differences against the analytic gradient, for every trainable parameter.
    fn gradient_check(arch: Arch) {
        let spec = ModelSpec {
            arch,
            input_dim: 5,
            classes: 3,
        };
        let mut model = Classifier::new(spec, 3);
        let x: Vec<f32> = (0..20).map(|i| (i * 7 % 11) as f32 / 5.0 - 1.0).collect();
        let y = [0u32, 2, 1, 2];
        let snapshot = model.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (logits, tape) = model.forward_train(&x, 4, &mut rng);
        let (_, dlogits) = cross_entropy(&logits, &y, 3);
        model.backward(&tape, &dlogits);
        let eps = 1e-3;
        for (pi, p) in model.params.iter().enumerate().filter(|(_, p)| p.trainable()) {
            for k in 0..p.value.len() {
                let mut plus = snapshot.clone();
                plus.params[pi].value[k] += eps;
                let mut minus = snapshot.clone();
                minus.params[pi].value[k] -= eps;
                let numeric = (loss_of(&mut plus, &x, &y) - loss_of(&mut minus, &x, &y)) / (2.0 * eps);
                let analytic = p.grad[k];
                assert!(
                    (numeric - analytic).abs() < 2e-3 + 2e-2 * analytic.abs(),
                    "{}[{k}]: numeric {numeric} analytic {analytic}",
                    p.name
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
