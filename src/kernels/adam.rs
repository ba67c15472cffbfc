//! AdamW's elementwise update (`torch.optim.AdamW`: decoupled weight decay, bias-corrected
//! moments; with weight decay 0 it is `torch.optim.Adam`), written once for the slice optimizer
//! ([`crate::train::optim`]) and the CPU backend, so both do the same arithmetic in the same
//! order.

/// The scalars of one AdamW step: the rates and the bias corrections of step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// `1 − β₁ᵗ` and `1 − β₂ᵗ`.
    pub bc1: f32,
    pub bc2: f32,
    /// What every gradient is multiplied by first: the clipping factor, 1 for none (a
    /// multiply by 1 changes no bit).
    pub grad_scale: f32,
}

impl AdamStep {
    /// The step numbered `t` (from 1) at rate `lr`.
    pub fn new(lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, t: u64) -> Self {
        Self {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            bc1: 1.0 - beta1.powi(t as i32),
            bc2: 1.0 - beta2.powi(t as i32),
            grad_scale: 1.0,
        }
    }

    /// The same step on gradients multiplied by `grad_scale`.
    pub fn scaled(self, grad_scale: f32) -> Self {
        Self { grad_scale, ..self }
    }
}

/// Updates `w` from `g · s.grad_scale` and the moments `m`, `v`, all of one length, then
/// zeroes `g`.
pub fn adamw(w: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) {
    for i in 0..w.len() {
        let gi = g[i] * s.grad_scale;
        g[i] = 0.0;
        w[i] *= 1.0 - s.lr * s.weight_decay;
        m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * gi;
        v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * gi * gi;
        let denom = (v[i] / s.bc2).sqrt() + s.eps;
        w[i] -= s.lr * (m[i] / s.bc1) / denom;
    }
}
