//! `torch.optim.SGD`'s elementwise update (momentum, Nesterov, weight decay), written once for
//! the slice optimizer ([`crate::train::optim`]) and the CPU backend, so both do the same
//! arithmetic in the same order.

/// The scalars of one SGD step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    /// What every gradient is multiplied by first: the clipping factor, 1 for none.
    pub grad_scale: f32,
}

/// Without momentum: `w -= lr · (g · grad_scale + weight_decay · w)`, then `g = 0`.
pub fn sgd(w: &mut [f32], g: &mut [f32], s: &SgdStep) {
    for (w, g) in w.iter_mut().zip(g) {
        *w -= s.lr * (*g * s.grad_scale + s.weight_decay * *w);
        *g = 0.0;
    }
}

/// With momentum: `d = g · grad_scale + weight_decay · w`; the buffer becomes `d` on the first
/// step (`first`), else `momentum · buffer + d`; `w -= lr · (d + momentum · buffer)` with
/// Nesterov, else `w -= lr · buffer`; then `g = 0`.
pub fn sgd_momentum(w: &mut [f32], g: &mut [f32], buffer: &mut [f32], first: bool, s: &SgdStep) {
    for ((w, g), b) in w.iter_mut().zip(g).zip(buffer) {
        let d = *g * s.grad_scale + s.weight_decay * *w;
        *b = if first { d } else { s.momentum * *b + d };
        let update = if s.nesterov { d + s.momentum * *b } else { *b };
        *w -= s.lr * update;
        *g = 0.0;
    }
}
