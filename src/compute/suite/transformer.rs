//! The operation suite's transformer checks (LUKE's inference): dense layers on row ranges,
//! LayerNorm, the activations, and the attention core (plain and entity-aware, with padding)
//! against plain `f64` loops.

use super::{compare, random, OpCheck};
use crate::compute::{Activation, AttentionShape, AttentionWeights, Backend, DenseWeights};
use anyhow::Result;
use rand_chacha::ChaCha8Rng;

/// A dense layer's values: `weight` `[out, in]`, `bias` `[out]`.
struct Values {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Values {
    fn random(rng: &mut ChaCha8Rng, inputs: usize, outputs: usize) -> Self {
        Self {
            weight: random(rng, inputs * outputs, 0.5),
            bias: random(rng, outputs, 0.5),
            inputs,
            outputs,
        }
    }

    fn weights(&self) -> Result<DenseWeights> {
        DenseWeights::new(self.weight.clone(), Some(self.bias.clone()), self.inputs, self.outputs)
    }

    /// `x·Wᵀ + b` of one row, in f64.
    fn apply(&self, x: &[f32]) -> Vec<f64> {
        (0..self.outputs)
            .map(|o| {
                let w = &self.weight[o * self.inputs..][..self.inputs];
                self.bias[o] as f64 + w.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>()
            })
            .collect()
    }
}

pub(super) fn transformer_checks<B: Backend>(be: &B, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let mut checks = Vec::new();

    // a dense layer over rows 3..10 of a 13-row block
    let (inputs, outputs, rows, first) = (19, 11, 7, 3);
    let layer = Values::random(rng, inputs, outputs);
    let x = random(rng, 13 * inputs, 1.0);
    let want: Vec<f64> = (first..first + rows)
        .flat_map(|r| layer.apply(&x[r * inputs..][..inputs]))
        .collect();
    let mut y = be.zeros(rows * outputs)?;
    be.affine(&mut y, &be.upload(&x)?, first, rows, &be.dense(layer.weights()?)?)?;
    checks.push(compare("dense on a row range", &be.download(&y)?, &want));

    // LayerNorm of rows 2..7 of 9 rows of 45 (the rest untouched)
    let (cols, rows, first) = (45, 5, 2);
    let x: Vec<f32> = random(rng, 9 * cols, 2.0).iter().map(|v| v + 3.0).collect();
    let (gamma, beta) = (random(rng, cols, 1.0), random(rng, cols, 1.0));
    let mut want: Vec<f64> = x.iter().map(|v| *v as f64).collect();
    for row in want.chunks_mut(cols).skip(first).take(rows) {
        let mean = row.iter().sum::<f64>() / cols as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / cols as f64;
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) / (var + 1e-5).sqrt() * gamma[j] as f64 + beta[j] as f64;
        }
    }
    let mut xb = be.upload(&x)?;
    be.layer_norm(&mut xb, first, rows, &be.upload(&gamma)?, &be.upload(&beta)?, 1e-5)?;
    checks.push(compare("layer norm on a row range", &be.download(&xb)?, &want));

    // the activations
    let x = random(rng, 3001, 6.0);
    for (act, f) in [
        (Activation::Gelu, gelu as fn(f64) -> f64),
        (Activation::GeluTanh, gelu_tanh),
        (Activation::Relu, |v: f64| v.max(0.0)),
        (Activation::Tanh, f64::tanh),
    ] {
        let mut xb = be.upload(&x)?;
        be.activate(&mut xb, act)?;
        let want: Vec<f64> = x.iter().map(|v| f(*v as f64)).collect();
        checks.push(compare(&format!("activation {act:?}"), &be.download(&xb)?, &want));
    }

    // attention: RoBERTa's, entity-aware with entities few and many (the CPU folds the
    // word→entity scores only when they are few), and entity-aware without entities
    for (name, aware, shape) in [
        ("plain", false, (2, 5, 2)),
        ("entity-aware", true, (2, 7, 2)),
        ("entity-aware, entities many", true, (2, 3, 6)),
        ("entity-aware, no entities", true, (3, 4, 0)),
    ] {
        checks.push(attention_check(be, rng, name, aware, shape)?);
    }
    Ok(checks)
}

fn gelu(v: f64) -> f64 {
    0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2))
}

fn gelu_tanh(v: f64) -> f64 {
    0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
}

/// One attention call of `(B, W, N)` with 3 heads of 4, the last word of every sequence but
/// the first and the last entity of the second padded.
fn attention_check<B: Backend>(
    be: &B,
    rng: &mut ChaCha8Rng,
    name: &str,
    aware: bool,
    (batch, words, entities): (usize, usize, usize),
) -> Result<OpCheck> {
    let (heads, d) = (3, 4);
    let h = heads * d;
    let shape = AttentionShape { batch, words, entities };
    let keys = words + entities;
    let mut projections: Vec<Values> = (0..3).map(|_| Values::random(rng, h, h)).collect(); // q, k, v
    if aware {
        projections.extend((0..3).map(|_| Values::random(rng, h, h))); // w2e, e2w, e2e
    }
    let hidden = random(rng, shape.rows() * h, 1.0);
    let masks: Vec<u32> = (0..batch)
        .flat_map(|b| (0..keys).map(move |t| !((b > 0 && t == words - 1) || (b == 1 && t == keys - 1)) as u32))
        .collect();
    let row_of = |b: usize, t: usize| {
        if t < words {
            b * words + t
        } else {
            batch * words + b * entities + t - words
        }
    };
    let x = |b: usize, t: usize| &hidden[row_of(b, t) * h..][..h];
    let mut want = vec![0f64; shape.rows() * h];
    for b in 0..batch {
        let k: Vec<Vec<f64>> = (0..keys).map(|t| projections[1].apply(x(b, t))).collect();
        let v: Vec<Vec<f64>> = (0..keys).map(|t| projections[2].apply(x(b, t))).collect();
        for t in 0..keys {
            // the query of row t toward words and toward entities
            let toward = |target_entities: bool| {
                let which = match (aware && entities > 0, t < words, target_entities) {
                    (false, _, _) | (true, true, false) => 0,
                    (true, true, true) => 3,
                    (true, false, false) => 4,
                    (true, false, true) => 5,
                };
                projections[which].apply(x(b, t))
            };
            let (q_words, q_entities) = (toward(false), toward(true));
            for head in 0..heads {
                let cols = head * d..(head + 1) * d;
                let scores: Vec<f64> = (0..keys)
                    .map(|j| {
                        let q = if j < words { &q_words } else { &q_entities };
                        let s: f64 = cols.clone().map(|c| q[c] * k[j][c]).sum::<f64>() / (d as f64).sqrt();
                        if masks[b * keys + j] == 1 {
                            s
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in cols {
                    want[row_of(b, t) * h + c] = (0..keys).map(|j| e[j] / sum * v[j][c]).sum();
                }
            }
        }
    }
    let [q, k, v, rest @ ..] = &projections[..] else {
        unreachable!("three projections at least")
    };
    let weights = AttentionWeights {
        query: q.weights()?,
        key: k.weights()?,
        value: v.weights()?,
        entity_aware: match rest {
            [w2e, e2w, e2e] => Some([w2e.weights()?, e2w.weights()?, e2e.weights()?]),
            _ => None,
        },
        heads,
    };
    let attention = be.attention(weights)?;
    let mut context = be.zeros(shape.rows() * h)?;
    be.attend(
        &mut context,
        &be.upload(&hidden)?,
        &attention,
        &be.upload_ids(&masks)?,
        shape,
    )?;
    Ok(compare(&format!("attention, {name}"), &be.download(&context)?, &want))
}
