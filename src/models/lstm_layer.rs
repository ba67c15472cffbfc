//! One LSTM layer over [`Backend`] (PyTorch's `nn.LSTM` layer `l`: `weight_ih_l{l}` `[4H, In]`,
//! `weight_hh_l{l}` `[4H, H]`, two biases `[4H]`), forward and backward side by side. The
//! language model stacks these; the fine-tuned classifier uses one.

use super::device_params::{DeviceParams, Slot};
use crate::compute::{Backend, Layout, LstmShape};
use crate::nn::params::Params;
use anyhow::Result;

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
