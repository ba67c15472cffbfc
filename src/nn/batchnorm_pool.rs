//! The gradient batch norm's backward reads when a ReLU and a 2×2 max pooling follow it, made
//! from the pooling's side instead of read from a dense array: is this value its window's
//! maximum, and was the ReLU open there? (At the maximum the ReLU's output is the pooled value.)
//!
//! Why: unfused, the pooling's backward wrote a dense gradient `[R, C]`, three quarters zeros,
//! and batch norm's two passes read it beside the ReLU's output and the input. For the
//! CNN-on-LUKE article's second convolution those are 14 MB arrays; here the two passes read
//! the input and the pooled arrays, a quarter of its size each.
//!
//! Bits: each value gets the gradient the pooling's backward (`0 + d` at the maximum, 0
//! elsewhere) and the ReLU's select gave it, and [`super::batchnorm::backward`] sums and uses it
//! with the same arithmetic in the same order, so the results are the unfused bits.

/// The pooling's side, each `[N·PH·PW, C]`: the gradient of its output, its output, and the
/// flat index into the input `[N·H·W, C]` of each maximum; over `n` images of `h × w`.
#[derive(Clone, Copy)]
pub struct Pooled<'a> {
    pub grad: &'a [f32],
    pub out: &'a [f32],
    pub argmax: &'a [u32],
    pub images: (usize, usize, usize),
}

impl Pooled<'_> {
    /// Where input row (pixel) `r`'s window starts in the pooled arrays (rows of `c`), or
    /// `None` for a pixel of an odd last row or column, which no window covers.
    #[inline(always)]
    pub fn window(&self, r: usize, c: usize) -> Option<usize> {
        let (_, h, w) = self.images;
        let (ph, pw) = (h / 2, w / 2);
        let (image, y, x) = (r / (h * w), (r / w) % h, r % w);
        (y < 2 * ph && x < 2 * pw).then(|| ((image * ph + y / 2) * pw + x / 2) * c)
    }

    /// Row `r`'s gradients for columns `first..first + out.len()` of `c` into `out`.
    #[inline(always)]
    pub fn gradients(&self, out: &mut [f32], r: usize, c: usize, first: usize) {
        let Some(q) = self.window(r, c) else {
            return out.fill(0.0);
        };
        let q = q + first;
        let w = out.len();
        let at = (r * c + first) as u32;
        let window = self.grad[q..q + w]
            .iter()
            .zip(&self.out[q..q + w])
            .zip(&self.argmax[q..q + w]);
        for (j, (o, ((d, y), a))) in out.iter_mut().zip(window).enumerate() {
            *o = gradient(*d, *y, *a, at + j as u32);
        }
    }
}

/// What the pooling's backward and then the ReLU's select give the value at flat index `at`:
/// `0 + d` where it is its window's maximum (`argmax`) and the ReLU's output there (`y`, the
/// pooled value) is above 0, else 0.
#[inline(always)]
fn gradient(d: f32, y: f32, argmax: u32, at: u32) -> f32 {
    let dy = if argmax == at { 0.0 + d } else { 0.0 };
    if y <= 0.0 {
        0.0
    } else {
        dy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the pooling's dense backward and the ReLU's select written out, on an odd
    /// grid (a dropped row and column), ties, a closed ReLU and a −0 gradient.
    #[test]
    fn gradients_match_the_dense_backward_and_select() {
        let (n, h, w, c) = (2, 5, 3, 4);
        let (ph, pw) = (h / 2, w / 2);
        let relu_out: Vec<f32> = (0..n * h * w * c)
            .map(|i| [0.0, 1.5, -0.0, 2.0, 1.5, 0.25][i * 7 % 6])
            .collect();
        let (mut out, mut argmax) = (vec![0.0; n * ph * pw * c], vec![0u32; n * ph * pw * c]);
        for image in 0..n {
            for py in 0..ph {
                for px in 0..pw {
                    for ch in 0..c {
                        let p = ((image * ph + py) * pw + px) * c + ch;
                        let mut best = (f32::NEG_INFINITY, 0);
                        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let at = ((image * h + 2 * py + dy) * w + 2 * px + dx) * c + ch;
                            if relu_out[at] > best.0 {
                                best = (relu_out[at], at);
                            }
                        }
                        (out[p], argmax[p]) = (best.0, best.1 as u32);
                    }
                }
            }
        }
        let grad: Vec<f32> = (0..out.len())
            .map(|i| if i % 5 == 0 { -0.0 } else { i as f32 - 3.5 })
            .collect();
        let pool = Pooled {
            grad: &grad,
            out: &out,
            argmax: &argmax,
            images: (n, h, w),
        };
        // the dense backward, then the select
        let mut dense = vec![0.0f32; relu_out.len()];
        for (p, &at) in argmax.iter().enumerate() {
            dense[at as usize] = 0.0 + grad[p];
        }
        for r in 0..n * h * w {
            for first in [0, 1] {
                let mut got = vec![f32::NAN; c - first];
                pool.gradients(&mut got, r, c, first);
                for (j, g) in got.iter().enumerate() {
                    let at = r * c + first + j;
                    let want = if relu_out[at] <= 0.0 { 0.0 } else { dense[at] };
                    assert_eq!(g.to_bits(), want.to_bits(), "row {r} column {}", first + j);
                }
            }
        }
    }
}
