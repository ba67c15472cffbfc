//! `tsumugi classify inspect`: problems 71–72 on an untrained single-layer network —
//! softmax(x₁W), softmax(X[1:4]W), and the cross-entropy loss with its gradient ∂l/∂W for x₁
//! and for x₁..x₄.

use super::featurize::FeatureSet;
use crate::compute::cpu::Cpu;
use crate::models::classifier::{Arch, Classifier, ModelSpec};
use crate::nn::loss::{cross_entropy, softmax};
use anyhow::Result;
use rand::SeedableRng;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Inspection {
    /// softmax(x₁ W) `[1, L]`
    pub y_hat_1: Vec<Vec<f32>>,
    /// softmax(X[1:4] W) `[4, L]`
    pub y_hat: Vec<Vec<f32>>,
    pub loss_1: f32,
    /// ∂l₁/∂W in PyTorch layout `[L, d]`
    pub grad_1: Vec<Vec<f32>>,
    pub loss_4: f32,
    pub grad_4: Vec<Vec<f32>>,
}

fn rows(values: &[f32], width: usize) -> Vec<Vec<f32>> {
    values.chunks_exact(width).map(<[f32]>::to_vec).collect()
}

/// On the CPU: four examples' worth of arithmetic.
pub fn inspect(data: &FeatureSet, seed: u64) -> Result<Inspection> {
    let spec = ModelSpec {
        arch: Arch::Slp,
        input_dim: data.dim,
        classes: data.labels.len(),
    };
    let classes = spec.classes;
    let d = data.dim;
    let n = data.train.rows.min(4);
    let x = &data.train.x[..n * d];
    let y = &data.train.y[..n];
    // a fresh model each time, so each gradient is its batch's alone
    let loss_and_grad = |rows_used: usize| -> Result<(f32, Vec<f32>, Vec<f32>)> {
        let mut model = Classifier::new(&Cpu, spec.clone(), seed)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (logits, tape) = model.forward_train(&Cpu, x[..rows_used * d].to_vec(), rows_used, &mut rng)?;
        let (loss, dlogits) = cross_entropy(&logits, &y[..rows_used], classes);
        model.backward(&Cpu, tape, &dlogits)?;
        let mut grads = model.params().gradients(&Cpu)?;
        Ok((loss, grads.swap_remove(0).1, softmax(&logits, classes)))
    };
    let (loss_1, grad_1, p1) = loss_and_grad(1)?;
    let (loss_4, grad_4, p4) = loss_and_grad(n)?;
    Ok(Inspection {
        y_hat_1: rows(&p1, classes),
        y_hat: rows(&p4, classes),
        loss_1,
        grad_1: rows(&grad_1, d),
        loss_4,
        grad_4: rows(&grad_4, d),
    })
}

/// A matrix printed like PyTorch does: four decimals, long rows elided in the middle.
pub fn format_matrix(m: &[Vec<f32>]) -> String {
    let row = |r: &Vec<f32>| {
        let cells: Vec<String> = if r.len() > 6 {
            r[..3]
                .iter()
                .map(|v| format!("{v:7.4}"))
                .chain(std::iter::once("...".to_string()))
                .chain(r[r.len() - 3..].iter().map(|v| format!("{v:7.4}")))
                .collect()
        } else {
            r.iter().map(|v| format!("{v:7.4}")).collect()
        };
        format!("[{}]", cells.join(", "))
    };
    let body: Vec<String> = m.iter().map(row).collect();
    format!("tensor([{}])", body.join(",\n        "))
}
