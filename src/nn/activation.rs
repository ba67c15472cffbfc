//! ReLU and inverted dropout, in place, each with the mask its backward needs.

use rand::Rng;

/// x ← max(x, 0); the backward mask is `x > 0` of the output.
pub fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// dy ← dy · [y > 0], where `y` is the ReLU output.
pub fn relu_backward(dy: &mut [f32], y: &[f32]) {
    for (d, v) in dy.iter_mut().zip(y) {
        if *v <= 0.0 {
            *d = 0.0;
        }
    }
}

/// Zeroes each value with probability `p` and scales the rest by 1/(1−p); returns the mask
/// (0 or the scale) for the backward pass.
pub fn dropout(x: &mut [f32], p: f32, rng: &mut impl Rng) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.len())
        .map(|_| if rng.gen::<f32>() < p { 0.0 } else { scale })
        .collect();
    for (v, m) in x.iter_mut().zip(&mask) {
        *v *= m;
    }
    mask
}

pub fn dropout_backward(dy: &mut [f32], mask: &[f32]) {
    for (d, m) in dy.iter_mut().zip(mask) {
        *d *= m;
    }
}
