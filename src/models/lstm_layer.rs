//! One LSTM layer over [`Backend`] (PyTorch's `nn.LSTM` layer `l`: `weight_ih_l{l}` `[4H, In]`,
//! `weight_hh_l{l}` `[4H, H]`, two biases `[4H]`), forward and backward side by side. The
//! language model stacks these; the fine-tuned classifier uses one.

use super::device_params::{DeviceParams, Slot};
use crate::compute::{Backend, Layout, LstmShape};
use crate::nn::params::{Init, Params};
use anyhow::Result;
use rand::Rng;

/// The layer's parameters as slots of the model's [`DeviceParams`], and its sizes.
pub struct LstmLayer {
    weight_ih: Slot,
    weight_hh: Slot,
    bias_ih: Slot,
    bias_hh: Slot,
    /// Input and hidden widths.
    pub input: usize,
    pub hidden: usize,
}

/// What backward needs of one forward.
pub struct LstmTape<B: Backend> {
    /// The layer's input `[T·B, In]`.
    pub input: B::Buf,
    /// Gate activations `[T·B, 4H]`, cell states and outputs `[T·B, H]`.
    pub gates: B::Buf,
    pub cells: B::Buf,
    pub out: B::Buf,
    /// The state the layer started from `[B, H]`.
    pub h0: B::Buf,
    pub c0: B::Buf,
    pub steps: usize,
    pub batch: usize,
}

impl LstmLayer {
    /// Adds the layer's weights to `host` with PyTorch's init: every weight and bias uniform
    /// in ±1/√H, drawn in the order `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub fn init(host: &mut Params, prefix: &str, l: usize, input: usize, hidden: usize, rng: &mut impl Rng) {
        let init = Init::Uniform {
            bound: 1.0 / (hidden as f32).sqrt(),
        };
        for (name, cols) in [("weight_ih", input), ("weight_hh", hidden)] {
            host.add(&format!("{prefix}.{name}_l{l}"), &[4 * hidden, cols], init, true, rng);
        }
        for name in ["bias_ih", "bias_hh"] {
            host.add(&format!("{prefix}.{name}_l{l}"), &[4 * hidden], init, true, rng);
        }
    }

    /// Uploads `{prefix}.weight_ih_l{l}` and the rest from `host`.
    pub fn upload<B: Backend>(
        be: &B,
        params: &mut DeviceParams<B>,
        host: &Params,
        prefix: &str,
        l: usize,
        input: usize,
        hidden: usize,
    ) -> Result<Self> {
        let mut take = |what: &str| params.upload(be, host, &format!("{prefix}.{what}_l{l}"));
        Ok(Self {
            weight_ih: take("weight_ih")?,
            weight_hh: take("weight_hh")?,
            bias_ih: take("bias_ih")?,
            bias_hh: take("bias_hh")?,
            input,
            hidden,
        })
    }

    /// Every step of the layer over `input` `[T·B, In]` from the state `(h0, c0)` `[B, H]`;
    /// the outputs are `tape.out` `[T·B, H]`.
    pub fn forward<B: Backend>(
        &self,
        be: &B,
        values: &[B::Buf],
        input: B::Buf,
        (steps, batch): (usize, usize),
        (h0, c0): (B::Buf, B::Buf),
    ) -> Result<LstmTape<B>> {
        let (h, rows) = (self.hidden, steps * batch);
        // gates[T·B, 4H] = (b_ih + b_hh) + input[T·B, In] · W_ihᵀ
        let mut bias = be.zeros(4 * h)?;
        be.copy(&mut bias, 0, &values[self.bias_ih], 0, 4 * h)?;
        be.add(&mut bias, &values[self.bias_hh])?;
        let mut gates = be.scratch(rows * 4 * h)?;
        be.gemm_onto_row(
            &mut gates,
            &bias,
            &input,
            Layout::Plain,
            &values[self.weight_ih],
            Layout::Transposed,
            rows,
            self.input,
            4 * h,
        )?;
        let (mut out, mut cells) = (be.scratch(rows * h)?, be.scratch(rows * h)?);
        let shape = LstmShape {
            steps,
            batch,
            hidden: h,
        };
        be.lstm_forward(
            shape,
            &values[self.weight_hh],
            &mut gates,
            &mut out,
            &mut cells,
            &h0,
            &c0,
        )?;
        Ok(LstmTape {
            input,
            gates,
            cells,
            out,
            h0,
            c0,
            steps,
            batch,
        })
    }

    /// Backward from `d_out` `[T·B, H]`: the weight gradients accumulate into `grads`; returns
    /// d input `[T·B, In]`. The final state is detached (truncated BPTT).
    pub fn backward<B: Backend>(
        &self,
        be: &B,
        values: &[B::Buf],
        grads: &mut [B::Buf],
        t: &LstmTape<B>,
        d_out: &B::Buf,
    ) -> Result<B::Buf> {
        let (h, rows) = (self.hidden, t.steps * t.batch);
        let shape = LstmShape {
            steps: t.steps,
            batch: t.batch,
            hidden: h,
        };
        let mut d_gates = be.scratch(rows * 4 * h)?;
        be.lstm_backward(
            shape,
            &values[self.weight_hh],
            &t.gates,
            &t.cells,
            &t.c0,
            d_out,
            &mut d_gates,
        )?;
        // h_prev[T·B, H] = [h0; out[..T-1]]
        let step_rows = t.batch * h;
        let mut h_prev = be.scratch(rows * h)?;
        be.copy(&mut h_prev, 0, &t.h0, 0, step_rows)?;
        be.copy(&mut h_prev, step_rows, &t.out, 0, (t.steps - 1) * step_rows)?;
        // dW_hh[4H, H] += d_gatesᵀ · h_prev ;  dW_ih[4H, In] += d_gatesᵀ · input
        be.gemm(
            &mut grads[self.weight_hh],
            &d_gates,
            Layout::Transposed,
            &h_prev,
            Layout::Plain,
            4 * h,
            rows,
            h,
            true,
        )?;
        be.gemm(
            &mut grads[self.weight_ih],
            &d_gates,
            Layout::Transposed,
            &t.input,
            Layout::Plain,
            4 * h,
            rows,
            self.input,
            true,
        )?;
        be.column_sums(&mut grads[self.bias_ih], &d_gates, 4 * h, true)?;
        be.column_sums(&mut grads[self.bias_hh], &d_gates, 4 * h, true)?;
        // d_input[T·B, In] = d_gates · W_ih
        let mut d_in = be.scratch(rows * self.input)?;
        be.gemm(
            &mut d_in,
            &d_gates,
            Layout::Plain,
            &values[self.weight_ih],
            Layout::Plain,
            rows,
            4 * h,
            self.input,
            false,
        )?;
        be.release(d_gates);
        be.release(h_prev);
        Ok(d_in)
    }
}

impl<B: Backend> LstmTape<B> {
    /// Hands the tape's large buffers back for the next step's [`Backend::scratch`].
    pub fn release(self, be: &B) {
        for buf in [self.input, self.gates, self.cells, self.out] {
            be.release(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use rand::SeedableRng;

    /// Gradients by parameter name.
    type Gradients = Vec<(String, Vec<f32>)>;

    /// A layer with random weights on the CPU backend, its input `[T, B, In]`, a gradient for
    /// its outputs `[T, B, H]` and an initial state `(h0, c0)`, drawn in that order from `seed`.
    struct Case {
        host: Params,
        params: DeviceParams<Cpu>,
        layer: LstmLayer,
        x: Vec<f32>,
        r: Vec<f32>,
        state: (Vec<f32>, Vec<f32>),
        steps: usize,
        batch: usize,
    }

    fn random_case(seed: u64, (steps, batch, input, hidden): (usize, usize, usize, usize)) -> Case {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut host = Params::default();
        LstmLayer::init(&mut host, "lstm", 0, input, hidden, &mut rng);
        let mut params = DeviceParams::default();
        let layer = LstmLayer::upload(&Cpu, &mut params, &host, "lstm", 0, input, hidden).unwrap();
        let mut draw = |n: usize, bound: f32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-bound..bound)).collect() };
        let x = draw(steps * batch * input, 1.0);
        let r = draw(steps * batch * hidden, 1.0);
        let state = (draw(batch * hidden, 0.5), draw(batch * hidden, 0.5));
        Case {
            host,
            params,
            layer,
            x,
            r,
            state,
            steps,
            batch,
        }
    }

    impl Case {
        /// The outputs `[T·B, H]` and cells of the layer with `params` on input `x`.
        fn forward(&self, params: &DeviceParams<Cpu>, x: &[f32]) -> LstmTape<Cpu> {
            let (h0, c0) = self.state.clone();
            let shape = (self.steps, self.batch);
            self.layer
                .forward(&Cpu, params.split_values(), x.to_vec(), shape, (h0, c0))
                .unwrap()
        }

        /// Loss = Σ outputs · r for the fixed random r, so every output gets its own gradient.
        fn loss(&self, params: &DeviceParams<Cpu>, x: &[f32]) -> f64 {
            let out = self.forward(params, x).out;
            out.iter().zip(&self.r).map(|(o, w)| (*o as f64) * (*w as f64)).sum()
        }

        /// The outputs, d x and every weight gradient of one forward and backward.
        fn run(&self) -> (Vec<f32>, Vec<f32>, Gradients) {
            let mut params = DeviceParams::default();
            let layer = LstmLayer::upload(
                &Cpu,
                &mut params,
                &self.host,
                "lstm",
                0,
                self.layer.input,
                self.layer.hidden,
            );
            let layer = layer.unwrap();
            let (h0, c0) = self.state.clone();
            let tape = layer
                .forward(
                    &Cpu,
                    params.split_values(),
                    self.x.clone(),
                    (self.steps, self.batch),
                    (h0, c0),
                )
                .unwrap();
            let (values, grads) = params.split_mut();
            let dx = layer.backward(&Cpu, values, grads, &tape, &self.r).unwrap();
            (tape.out, dx, params.gradients(&Cpu).unwrap())
        }
    }

    /// Finite differences of Σ outputs · r against backward, for every weight and input.
    #[test]
    fn gradients_match_finite_differences() {
        let case = random_case(1, (4, 2, 3, 5));
        let (_, dx, grads) = case.run();
        let eps = 1e-2f32;
        for (name, grad) in &grads {
            for (k, analytic) in grad.iter().enumerate() {
                let at = |delta: f32| {
                    let mut host = case.host.clone();
                    host.iter_mut().find(|p| &p.name == name).unwrap().value[k] += delta;
                    let mut params = DeviceParams::default();
                    LstmLayer::upload(&Cpu, &mut params, &host, "lstm", 0, 3, 5).unwrap();
                    case.loss(&params, &case.x)
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                let analytic = *analytic as f64;
                assert!(
                    (numeric - analytic).abs() < 1e-3 + 1e-2 * analytic.abs(),
                    "{name}[{k}]: numeric {numeric} analytic {analytic}"
                );
            }
        }
        for k in 0..case.x.len() {
            let at = |delta: f32| {
                let mut x = case.x.clone();
                x[k] += delta;
                case.loss(&case.params, &x)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            assert!(
                (numeric - dx[k] as f64).abs() < 1e-3 + 1e-2 * numeric.abs(),
                "dx[{k}]: numeric {numeric} analytic {}",
                dx[k]
            );
        }
    }

    /// A batch cut into one share of sequences per thread (2 threads) gives the bits of the
    /// whole batch on one thread: outputs, d x and every gradient.
    #[test]
    fn sequences_split_among_threads_give_the_same_bits() {
        let case = random_case(4, (4, 13, 9, 24));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| case.run())
        };
        assert_eq!(run(1), run(2));
    }

    /// Feeding one step at a time, the state carried, gives the whole sequence's outputs
    /// (generation feeds one word at a time).
    #[test]
    fn one_step_calls_match_one_sequence_call() {
        let case = random_case(2, (5, 3, 7, 40));
        let whole = case.forward(&case.params, &case.x);
        let (b, h) = (case.batch, case.layer.hidden);
        let mut state = case.state.clone();
        for (step, x_t) in case.x.chunks_exact(b * case.layer.input).enumerate() {
            let tape = case
                .layer
                .forward(&Cpu, case.params.split_values(), x_t.to_vec(), (1, b), state)
                .unwrap();
            for (o, w) in tape.out.iter().zip(&whole.out[step * b * h..]) {
                assert!((o - w).abs() < 1e-5, "step {step}: {o} vs {w}");
            }
            state = (tape.out, tape.cells);
        }
        let last = &whole.cells[(case.steps - 1) * b * h..];
        for (s, w) in state.1.iter().zip(last) {
            assert!((s - w).abs() < 1e-5);
        }
    }
}
