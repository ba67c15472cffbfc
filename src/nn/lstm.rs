//! One LSTM layer over a whole sequence with its own backward, in PyTorch's layout and gate
//! order (i, f, g, o; `weight_ih_l{k} [4H, In]`, `weight_hh_l{k} [4H, H]`, `bias_ih_l{k}`,
//! `bias_hh_l{k}`), so weights move to and from `nn.LSTM` unchanged.
//!
//! Forward: the input projection of all T steps is one GEMM, then one recurrent GEMM per step
//! and the gate math fused in one pass. Backward: one recurrent GEMM per step in reverse, then
//! the weight gradients of the whole sequence as two GEMMs. Stacking, dropout between layers
//! and carrying (h, c) across batches belong to the caller.
//!
//! `W_hh` is packed once per call ([`FixedB`]) and shared by the T recurrent products of forward
//! (and again by those of backward): at B 20, H 650 the unpacked few-row kernels had taken
//! 0.90 s per `bench lstm` step against 0.52 s packed. A one-step call (generation) uses the
//! weight in place.

use super::lstm_recurrence::{self as recurrence, Recurrent, Sizes, Taped};
use super::params::{Init, ParamId, Params};
use crate::kernels::matmul::{matmul, matmul_onto_row, Layout};
use crate::kernels::recycle::{overwritable, recycle};
use rand::Rng;

#[derive(Debug, Clone)]
pub struct LstmLayer {
    pub weight_ih: ParamId,
    pub weight_hh: ParamId,
    pub bias_ih: ParamId,
    pub bias_hh: ParamId,
    pub input: usize,
    pub hidden: usize,
}

/// What backward needs from forward, for one layer.
#[derive(Debug, Clone)]
pub struct LstmTape {
    steps: usize,
    batch: usize,
    /// Gate activations i, f, g, o per step `[T·B, 4H]`.
    gates: Vec<f32>,
    /// Cell state after each step `[T·B, H]`.
    cells: Vec<f32>,
    /// Initial state `[B, H]` each.
    h0: Vec<f32>,
    c0: Vec<f32>,
}

impl LstmTape {
    /// Hands the tape's large buffers back for the next step ([`crate::kernels::recycle`]).
    pub fn recycle(self) {
        recycle(self.gates);
        recycle(self.cells);
    }
}

/// Final hidden and cell state `[B, H]` each.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmState {
    pub h: Vec<f32>,
    pub c: Vec<f32>,
}

impl LstmState {
    pub fn zeros(batch: usize, hidden: usize) -> Self {
        Self {
            h: vec![0.0; batch * hidden],
            c: vec![0.0; batch * hidden],
        }
    }
}

impl LstmLayer {
    /// PyTorch's init: every weight and bias uniform in ±1/√H.
    pub fn new(
        params: &mut Params,
        prefix: &str,
        layer: usize,
        input: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let init = Init::Uniform {
            bound: 1.0 / (hidden as f32).sqrt(),
        };
        let mut add =
            |name: &str, shape: &[usize]| params.add(&format!("{prefix}.{name}_l{layer}"), shape, init, true, rng);
        let weight_ih = add("weight_ih", &[4 * hidden, input]);
        let weight_hh = add("weight_hh", &[4 * hidden, hidden]);
        let bias_ih = add("bias_ih", &[4 * hidden]);
        let bias_hh = add("bias_hh", &[4 * hidden]);
        Self {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            input,
            hidden,
        }
    }

    /// x `[T, B, In]` → outputs `[T, B, H]`, the final state, and the tape for backward.
    pub fn forward(
        &self,
        params: &Params,
        x: &[f32],
        steps: usize,
        batch: usize,
        state: &LstmState,
    ) -> (Vec<f32>, LstmState, LstmTape) {
        let h4 = 4 * self.hidden;
        let hidden = self.hidden;
        let rows = steps * batch;
        // gates[T·B, 4H] = (b_ih + b_hh) + x[T·B, In] · W_ihᵀ
        let mut gates = overwritable(rows * h4);
        let bias: Vec<f32> = params
            .value(self.bias_ih)
            .iter()
            .zip(params.value(self.bias_hh))
            .map(|(a, b)| a + b)
            .collect();
        matmul_onto_row(
            &mut gates,
            &bias,
            x,
            Layout::Plain,
            params.value(self.weight_ih),
            Layout::Transposed,
            rows,
            self.input,
            h4,
        );
        // W_hhᵀ [H, 4H], packed once for the T recurrent products
        let w_hh = Recurrent::new(params.value(self.weight_hh), Layout::Transposed, hidden, h4, steps);
        // every step writes its rows of both in full
        let mut out = overwritable(rows * hidden);
        let mut cells = overwritable(rows * hidden);
        let sizes = Sizes { batch, hidden };
        recurrence::forward(&w_hh, sizes, &mut gates, &mut out, &mut cells, (&state.h, &state.c));
        let last = (steps - 1) * batch * hidden..steps * batch * hidden;
        let final_state = LstmState {
            h: out[last.clone()].to_vec(),
            c: cells[last].to_vec(),
        };
        let tape = LstmTape {
            steps,
            batch,
            gates,
            cells,
            h0: state.h.clone(),
            c0: state.c.clone(),
        };
        (out, final_state, tape)
    }

    /// d loss/d outputs `[T, B, H]` → accumulates the four parameter gradients and returns
    /// d loss/d x `[T, B, In]`. The final state is treated as detached (truncated BPTT).
    pub fn backward(&self, params: &mut Params, x: &[f32], out: &[f32], tape: &LstmTape, d_out: &[f32]) -> Vec<f32> {
        let (steps, batch, hidden) = (tape.steps, tape.batch, self.hidden);
        let h4 = 4 * hidden;
        let rows = steps * batch;
        // W_hh [4H, H], packed once for the T recurrent products
        let w_hh = Recurrent::new(params.value(self.weight_hh), Layout::Plain, h4, hidden, steps);
        // every step writes its rows in full
        let mut d_gates = overwritable(rows * h4);
        let taped = Taped {
            gates: &tape.gates,
            cells: &tape.cells,
            c0: &tape.c0,
        };
        recurrence::backward(&w_hh, Sizes { batch, hidden }, taped, d_out, &mut d_gates);
        // dW_hh[4H, H] += d_gatesᵀ · h_prev, with h_prev = [h0; out[..T-1]]
        let mut h_prev = Vec::with_capacity(rows * hidden);
        h_prev.extend_from_slice(&tape.h0);
        h_prev.extend_from_slice(&out[..(steps - 1) * batch * hidden]);
        matmul(
            &mut params[self.weight_hh].grad,
            &d_gates,
            Layout::Transposed,
            &h_prev,
            Layout::Plain,
            h4,
            rows,
            hidden,
            true,
        );
        matmul(
            &mut params[self.weight_ih].grad,
            &d_gates,
            Layout::Transposed,
            x,
            Layout::Plain,
            h4,
            rows,
            self.input,
            true,
        );
        // both biases get Σ_rows d_gates [4H], summed once
        let mut d_bias = vec![0f32; h4];
        for row in d_gates.chunks_exact(h4) {
            for (s, d) in d_bias.iter_mut().zip(row) {
                *s += d;
            }
        }
        for bias in [self.bias_ih, self.bias_hh] {
            for (g, d) in params[bias].grad.iter_mut().zip(&d_bias) {
                *g += d;
            }
        }
        let mut dx = overwritable(rows * self.input);
        matmul(
            &mut dx,
            &d_gates,
            Layout::Plain,
            params.value(self.weight_ih),
            Layout::Plain,
            rows,
            h4,
            self.input,
            false,
        );
        recycle(d_gates);
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Loss = Σ outputs · r for a fixed random r, so every output gets a distinct gradient.
    fn loss(layer: &LstmLayer, params: &Params, x: &[f32], t: usize, b: usize, s: &LstmState, r: &[f32]) -> f64 {
        let (out, _, _) = layer.forward(params, x, t, b, s);
        out.iter().zip(r).map(|(o, w)| (*o as f64) * (*w as f64)).sum()
    }

    #[test]
    fn one_step_calls_match_one_sequence_call() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let (t, b, input, hidden) = (5, 3, 7, 40);
        let mut params = Params::default();
        let layer = LstmLayer::new(&mut params, "lstm", 0, input, hidden, &mut rng);
        let x: Vec<f32> = (0..t * b * input).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let (whole, last, _) = layer.forward(&params, &x, t, b, &LstmState::zeros(b, hidden));
        let mut state = LstmState::zeros(b, hidden);
        for (step, x_t) in x.chunks_exact(b * input).enumerate() {
            let (out, next, _) = layer.forward(&params, x_t, 1, b, &state);
            for (o, w) in out.iter().zip(&whole[step * b * hidden..]) {
                assert!((o - w).abs() < 1e-5, "step {step}: {o} vs {w}");
            }
            state = next;
        }
        for (s, w) in state.c.iter().zip(&last.c) {
            assert!((s - w).abs() < 1e-5);
        }
    }

    /// A layer with random weights, its input `[T, B, In]`, a gradient for its outputs
    /// `[T, B, H]` and an initial state, drawn in that order from `seed`.
    fn random_case(
        seed: u64,
        (t, b, input, hidden): (usize, usize, usize, usize),
    ) -> (Params, LstmLayer, Vec<f32>, Vec<f32>, LstmState) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut params = Params::default();
        let layer = LstmLayer::new(&mut params, "lstm", 0, input, hidden, &mut rng);
        let x: Vec<f32> = (0..t * b * input).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let d_out: Vec<f32> = (0..t * b * hidden).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let state = LstmState {
            h: (0..b * hidden).map(|_| rng.gen_range(-0.5..0.5)).collect(),
            c: (0..b * hidden).map(|_| rng.gen_range(-0.5..0.5)).collect(),
        };
        (params, layer, x, d_out, state)
    }

    /// A batch cut into one share of sequences per thread (2 threads) gives the bits of the
    /// whole batch on one thread: outputs, final state, d x and every gradient.
    #[test]
    fn sequences_split_among_threads_give_the_same_bits() {
        let (t, b) = (4, 13);
        let (params, layer, x, d_out, state) = random_case(4, (t, b, 9, 24));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut p = params.clone();
                let (out, last, tape) = layer.forward(&p, &x, t, b, &state);
                let dx = layer.backward(&mut p, &x, &out, &tape, &d_out);
                let grads: Vec<Vec<f32>> = p.iter().map(|q| q.grad.clone()).collect();
                (out, last, dx, grads)
            })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (t, b) = (4, 2);
        let (params, layer, x, r, state) = random_case(1, (t, b, 3, 5));
        let (out, _, tape) = layer.forward(&params, &x, t, b, &state);
        let mut with_grads = params.clone();
        let dx = layer.backward(&mut with_grads, &x, &out, &tape, &r);
        let eps = 1e-2f32;
        for (pi, p) in params.iter().enumerate() {
            for k in 0..p.value.len() {
                let mut plus = params.clone();
                plus[pi].value[k] += eps;
                let mut minus = params.clone();
                minus[pi].value[k] -= eps;
                let numeric = (loss(&layer, &plus, &x, t, b, &state, &r) - loss(&layer, &minus, &x, t, b, &state, &r))
                    / (2.0 * eps as f64);
                let analytic = with_grads[pi].grad[k] as f64;
                assert!(
                    (numeric - analytic).abs() < 1e-3 + 1e-2 * analytic.abs(),
                    "{}[{k}]: numeric {numeric} analytic {analytic}",
                    p.name
                );
            }
        }
        for k in 0..x.len() {
            let mut plus = x.clone();
            plus[k] += eps;
            let mut minus = x.clone();
            minus[k] -= eps;
            let numeric = (loss(&layer, &params, &plus, t, b, &state, &r)
                - loss(&layer, &params, &minus, t, b, &state, &r))
                / (2.0 * eps as f64);
            assert!(
                (numeric - dx[k] as f64).abs() < 1e-3 + 1e-2 * numeric.abs(),
                "dx[{k}]: numeric {numeric} analytic {}",
                dx[k]
            );
        }
    }
}
