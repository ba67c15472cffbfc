//! A transformer's elementwise activations, in place: the feed-forward block's (exact GELU, its
//! tanh approximation, ReLU, as `hidden_act` names them) and the pooler's tanh.

use crate::kernels::fastmath::{self, widest_vectors};
use rayon::prelude::*;

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, x·Φ(x) (transformers' "gelu").
    Gelu,
    /// tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    GeluTanh,
    Relu,
    /// libm's tanh (the pooler's).
    Tanh,
}

/// Applies `act` to every value of `x`.
pub fn activate(x: &mut [f32], act: Activation) {
    x.par_chunks_mut(4096).for_each(|chunk| match act {
        Activation::Gelu => gelu(chunk),
        Activation::GeluTanh => gelu_tanh(chunk),
        Activation::Relu => chunk.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Tanh => chunk.iter_mut().for_each(|v| *v = v.tanh()),
    });
}

widest_vectors! {
    /// GELU with the exact erf, as `nn.GELU()`.
    fn gelu(xs: &mut [f32]) = gelu_body;
}

#[inline(always)]
fn gelu_body(xs: &mut [f32]) {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for v in xs.iter_mut() {
        *v = 0.5 * *v * (1.0 + fastmath::erf(*v * SQRT_HALF));
    }
}

widest_vectors! {
    /// GELU's tanh approximation, as `gelu_new`.
    fn gelu_tanh(xs: &mut [f32]) = gelu_tanh_body;
}

#[inline(always)]
fn gelu_tanh_body(xs: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in xs.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + fastmath::tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched activations (AVX-512 or AVX2 where the CPU has them) equal the baseline bit for
    /// bit, and GELU stays within 1e-6 of its f64 definition.
    #[test]
    fn activations_equal_the_baseline_and_the_definition() {
        let xs: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) / 61.0).collect();
        for (name, dispatched, baseline) in [
            ("gelu", gelu as fn(&mut [f32]), gelu_body as fn(&mut [f32])),
            ("gelu_tanh", gelu_tanh, gelu_tanh_body),
        ] {
            let (mut a, mut b) = (xs.clone(), xs.clone());
            dispatched(&mut a);
            baseline(&mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name}");
        }
        let mut exact = xs.clone();
        activate(&mut exact, Activation::Gelu);
        for (x, g) in xs.iter().zip(&exact) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            assert!((*g as f64 - want).abs() < 1e-6 * (1.0 + want.abs()), "gelu({x})");
        }
    }
}
