//! [`Backend`] on the CPU: buffers are `Vec<f32>`, and each operation calls the hand-written
//! code of [`crate::nn`] (sgemm through `matmul`, the packed recurrent weight and fused gate
//! math of the LSTM, the blocked vocabulary softmax), so a model run through this backend does
//! the arithmetic of the slice-based layers.

use super::shapes::{
    check_adam, check_affine, check_attend, check_batch_norm, check_batch_norm_backward, check_bias_grad,
    check_column_sums, check_copy, check_dropout, check_gemm, check_layer_norm, check_lstm, check_lstm_backward,
    check_max_over_steps, check_max_pool, check_row, check_rows, check_same, check_scalar, check_xent,
};
use super::{
    batch_norm_relu_max_pool_apart, clip_scale, mask, patch_gemm_grads_apart, Activation, AdamStep, AttentionShape,
    AttentionWeights, Backend, DenseWeights, Layout, LstmShape, PatchShape, SgdStep, Tiling,
};
use crate::kernels::matmul::{matmul, matmul_onto_row};
use crate::kernels::patches::{self, Patches};
use crate::kernels::rows;
use crate::kernels::{adam, sgd, winograd};
use crate::nn::batchnorm::{Pooled, Upstream};
use crate::nn::dense::Dense;
use crate::nn::entity_attention::SelfAttention;
use crate::nn::lstm_recurrence::{self as recurrence, Recurrent, Sizes, Taped};
use crate::nn::vocab_loss::{softmax_cross_entropy, softmax_cross_entropy_grad};
use crate::nn::{activate, activation, batchnorm, layer_norm};
use anyhow::{ensure, Result};
use rayon::prelude::*;

/// The CPU, on rayon's threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu;

/// Values per parallel block of the elementwise passes.
const BLOCK: usize = 1 << 15;

/// Elementwise passes over fewer values than this run in one call on this thread, without
/// rayon: waking a second thread costs more than such a pass (the MLP classifier's 60k-value
/// weight at batch 64: a `bench classify` epoch took 0.053 s with its update split in two
/// blocks, 0.045 s in one), and even one block through rayon's bridge showed in the
/// batch-1 classifier's profile. Elementwise, so the bits do not depend on it.
const SERIAL_BELOW: usize = 1 << 16;

/// `f` over `y` in blocks on every thread, or at once on this thread when `y` is small.
fn each(y: &mut [f32], f: impl Fn(&mut [f32]) + Sync + Send) {
    if y.len() < SERIAL_BELOW {
        f(y)
    } else {
        y.par_chunks_mut(BLOCK).for_each(f)
    }
}

/// `f` over matching blocks of `y` and `x` (one length), as [`each`].
fn each_with(y: &mut [f32], x: &[f32], f: impl Fn(&mut [f32], &[f32]) + Sync + Send) {
    if y.len() < SERIAL_BELOW {
        f(y, x)
    } else {
        y.par_chunks_mut(BLOCK)
            .zip(x.par_chunks(BLOCK))
            .for_each(|(y, x)| f(y, x))
    }
}

/// `f` over matching blocks of `w` and `g` (one length), both written, as [`each`].
fn each_pair(w: &mut [f32], g: &mut [f32], f: impl Fn(&mut [f32], &mut [f32]) + Sync + Send) {
    if w.len() < SERIAL_BELOW {
        f(w, g)
    } else {
        w.par_chunks_mut(BLOCK)
            .zip(g.par_chunks_mut(BLOCK))
            .for_each(|(w, g)| f(w, g))
    }
}

/// `f(i, values, ids)` over matching blocks `i` of `block` values of `out` and `ids` (a
/// pooling's maxima and argmax), on every thread, or on this one when `out` is small.
fn each_block(out: &mut [f32], ids: &mut [u32], block: usize, f: impl Fn(usize, &mut [f32], &mut [u32]) + Sync + Send) {
    let f = |(i, (out, ids)): (usize, (&mut [f32], &mut [u32]))| f(i, out, ids);
    if out.len() < SERIAL_BELOW {
        out.chunks_mut(block).zip(ids.chunks_mut(block)).enumerate().for_each(f);
    } else {
        out.par_chunks_mut(block)
            .zip(ids.par_chunks_mut(block))
            .enumerate()
            .for_each(f);
    }
}

impl Backend for Cpu {
    type Buf = Vec<f32>;
    type Ids = Vec<u32>;
    type Dense = Dense;
    type Attention = SelfAttention;
    type Loss = f64;

    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn zeros(&self, len: usize) -> Result<Vec<f32>> {
        Ok(vec![0.0; len])
    }

    fn scratch(&self, len: usize) -> Result<Vec<f32>> {
        Ok(crate::kernels::recycle::overwritable(len))
    }

    fn release(&self, buf: Vec<f32>) {
        crate::kernels::recycle::recycle(buf)
    }

    fn upload(&self, values: &[f32]) -> Result<Vec<f32>> {
        Ok(values.to_vec())
    }

    fn upload_vec(&self, values: Vec<f32>) -> Result<Vec<f32>> {
        Ok(values)
    }

    fn upload_ids(&self, ids: &[u32]) -> Result<Vec<u32>> {
        Ok(ids.to_vec())
    }

    fn ids_for_output(&self, len: usize) -> Result<Vec<u32>> {
        Ok(vec![0; len])
    }

    fn download(&self, buf: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(buf.clone())
    }

    fn host_view<'a>(&self, buf: &'a Vec<f32>) -> Result<std::borrow::Cow<'a, [f32]>> {
        Ok(std::borrow::Cow::Borrowed(buf))
    }

    fn len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }

    fn copy(&self, dst: &mut Vec<f32>, dst_at: usize, src: &Vec<f32>, src_at: usize, len: usize) -> Result<()> {
        check_copy(dst.len(), dst_at, src.len(), src_at, len)?;
        dst[dst_at..dst_at + len].copy_from_slice(&src[src_at..src_at + len]);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn gemm(
        &self,
        c: &mut Vec<f32>,
        a: &Vec<f32>,
        la: Layout,
        b: &Vec<f32>,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
        accumulate: bool,
    ) -> Result<()> {
        check_gemm(c.len(), a.len(), b.len(), m, k, n)?;
        matmul(c, a, la, b, lb, m, k, n, accumulate);
        Ok(())
    }

    fn gemm_onto_row(
        &self,
        c: &mut Vec<f32>,
        row: &Vec<f32>,
        a: &Vec<f32>,
        la: Layout,
        b: &Vec<f32>,
        lb: Layout,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        check_gemm(c.len(), a.len(), b.len(), m, k, n)?;
        check_row(row.len(), n)?;
        matmul_onto_row(c, row, a, la, b, lb, m, k, n);
        Ok(())
    }

    fn patch_gemm(
        &self,
        out: &mut Vec<f32>,
        row: &Vec<f32>,
        x: &Vec<f32>,
        ids: &Vec<u32>,
        weight: &Vec<f32>,
        s: PatchShape,
    ) -> Result<()> {
        match winograd_images(ids, s)? {
            Some(images) => winograd::forward(out, row, x, images, weight, s.outputs),
            None => patches::patches_times_weight_t(out, row, patch_matrix(x, ids, s), weight, s.outputs),
        }
    }

    fn patch_gemm_weight_grad(
        &self,
        d_weight: &mut Vec<f32>,
        dy: &Vec<f32>,
        x: &Vec<f32>,
        ids: &Vec<u32>,
        s: PatchShape,
    ) -> Result<()> {
        match winograd_images(ids, s)? {
            Some(images) => winograd::weight_grad(d_weight, dy, x, images, s.outputs),
            None => patches::dy_t_times_patches(d_weight, dy, patch_matrix(x, ids, s), s.outputs),
        }
    }

    fn patch_gemm_input_grad(
        &self,
        dx: &mut Vec<f32>,
        dy: &Vec<f32>,
        weight: &Vec<f32>,
        ids: &Vec<u32>,
        s: PatchShape,
    ) -> Result<()> {
        patches::add_dy_times_weight(dx, dy, weight, (ids, s.segments, s.width), s.outputs)
    }

    fn patch_gemm_grads(
        &self,
        d_bias: &mut Vec<f32>,
        d_weight: &mut Vec<f32>,
        dy: &Vec<f32>,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        ids: &Vec<u32>,
        s: PatchShape,
    ) -> Result<Vec<f32>> {
        let Some(images) = winograd_images(ids, s)? else {
            return patch_gemm_grads_apart(self, (d_bias, d_weight), dy, x, weight, ids, s);
        };
        let mut dx = self.scratch(x.len())?; // every value written
        winograd::grads((d_bias, d_weight, &mut dx), dy, x, images, weight, s.outputs)?;
        Ok(dx)
    }

    fn add(&self, y: &mut Vec<f32>, x: &Vec<f32>) -> Result<()> {
        check_same("add", y.len(), x.len())?;
        each_with(y, x, |y, x| y.iter_mut().zip(x).for_each(|(y, x)| *y += x));
        Ok(())
    }

    fn mul(&self, y: &mut Vec<f32>, x: &Vec<f32>) -> Result<()> {
        check_same("mul", y.len(), x.len())?;
        each_with(y, x, |y, x| y.iter_mut().zip(x).for_each(|(y, x)| *y *= x));
        Ok(())
    }

    fn column_sums(&self, sums: &mut Vec<f32>, x: &Vec<f32>, cols: usize, accumulate: bool) -> Result<()> {
        check_column_sums(sums.len(), x.len(), cols)?;
        if !accumulate {
            sums.fill(0.0);
        }
        batchnorm::add_column_sums(sums, x, cols);
        Ok(())
    }

    fn sum_of_squares(&self, acc: &mut Vec<f32>, x: &Vec<f32>) -> Result<()> {
        check_scalar(acc.len())?;
        let sum: f64 = x
            .par_chunks(BLOCK)
            .map(|c| c.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>())
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        acc[0] += sum as f32;
        Ok(())
    }

    fn relu(&self, y: &mut Vec<f32>) -> Result<()> {
        each(y, activation::relu);
        Ok(())
    }

    fn relu_backward(&self, dy: &mut Vec<f32>, y: &Vec<f32>) -> Result<()> {
        check_same("relu backward", dy.len(), y.len())?;
        each_with(dy, y, activation::relu_backward);
        Ok(())
    }

    fn batch_norm(
        &self,
        out: &mut Vec<f32>,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        beta: &Vec<f32>,
        (running_mean, running_var): (&mut Vec<f32>, &mut Vec<f32>),
        saved: &mut Vec<f32>,
        eps: f32,
        momentum: Option<f32>,
        relu: bool,
    ) -> Result<()> {
        let columns = [gamma.len(), beta.len(), running_mean.len(), running_var.len()];
        check_batch_norm(x.len(), out.len(), &columns, saved.len())?;
        let c = gamma.len();
        match momentum {
            Some(momentum) => {
                let running = (&mut running_mean[..], &mut running_var[..]);
                let (mean, inv_std) = training_stats(x, c, running, saved, eps, momentum)?;
                batchnorm::normalize(out, x, gamma, beta, (&mean, &inv_std), relu);
            }
            None => {
                out.copy_from_slice(x);
                batchnorm::normalize_eval(out, gamma, beta, running_mean, running_var, eps);
                if relu {
                    activation::relu(out);
                }
                saved[..c].copy_from_slice(running_mean);
                saved[c..].copy_from_slice(&batchnorm::inv_std(running_var, eps));
            }
        }
        Ok(())
    }

    fn batch_norm_backward(
        &self,
        dx: &mut Vec<f32>,
        dy: &Vec<f32>,
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        saved: &Vec<f32>,
        d_gamma: &mut Vec<f32>,
        d_beta: &mut Vec<f32>,
        relu_out: Option<&Vec<f32>>,
    ) -> Result<()> {
        let columns = [gamma.len(), d_gamma.len(), d_beta.len()];
        check_batch_norm_backward(
            x.len(),
            dx.len(),
            dy.len(),
            &columns,
            saved.len(),
            relu_out.map(Vec::len),
        )?;
        let upstream = match relu_out {
            Some(y) => Upstream::ThroughRelu { dy, relu_out: y },
            None => Upstream::Dense(dy),
        };
        batchnorm::backward(dx, upstream, x, saved.split_at(gamma.len()), gamma, d_gamma, d_beta);
        Ok(())
    }

    fn max_pool_batch_norm_backward(
        &self,
        dx: &mut Vec<f32>,
        (d_pooled, pooled, argmax): (&Vec<f32>, &Vec<f32>, &Vec<u32>),
        (n, h, w): (usize, usize, usize),
        x: &Vec<f32>,
        gamma: &Vec<f32>,
        saved: &Vec<f32>,
        d_gamma: &mut Vec<f32>,
        d_beta: &mut Vec<f32>,
    ) -> Result<()> {
        let c = gamma.len();
        check_max_pool(d_pooled.len(), argmax.len(), x.len(), (n, h, w), c)?;
        check_same("max pool batch norm backward: pooled", pooled.len(), d_pooled.len())?;
        let columns = [c, d_gamma.len(), d_beta.len()];
        check_batch_norm_backward(x.len(), dx.len(), x.len(), &columns, saved.len(), None)?;
        let pool = Pooled {
            grad: d_pooled,
            out: pooled,
            argmax,
            images: (n, h, w),
        };
        batchnorm::backward(dx, Upstream::Pooled(pool), x, saved.split_at(c), gamma, d_gamma, d_beta);
        Ok(())
    }

    fn gather_rows(&self, out: &mut Vec<f32>, table: &Vec<f32>, ids: &Vec<u32>, width: usize) -> Result<()> {
        check_rows("gather", ids.len(), out.len(), width)?;
        rows::check_ids("gather", ids, table.len(), width)?;
        rows::gather_rows(out, table, ids, width);
        Ok(())
    }

    fn scatter_add_rows(&self, table: &mut Vec<f32>, rows: &Vec<f32>, ids: &Vec<u32>, width: usize) -> Result<()> {
        check_rows("scatter", ids.len(), rows.len(), width)?;
        rows::check_ids("scatter", ids, table.len(), width)?;
        rows::scatter_add_rows(table, rows, ids, width);
        Ok(())
    }

    fn max_over_steps(
        &self,
        out: &mut Vec<f32>,
        argmax: &mut Vec<u32>,
        x: &Vec<f32>,
        lengths: &Vec<u32>,
        hidden: usize,
    ) -> Result<()> {
        let batch = lengths.len();
        check_max_over_steps(out.len(), argmax.len(), x.len(), batch, hidden)?;
        let steps = x.len() / (batch * hidden);
        if let Some(len) = lengths.iter().find(|&&len| !(1..=steps).contains(&(len as usize))) {
            anyhow::bail!("max over steps: a length of {len} for {steps} steps");
        }
        // Sequences in blocks on every thread; each steps over whole rows (a pooling window's
        // four pixels are rows far apart), a value replaced only by a larger one: the first of
        // equal values, as torch.max does on the CPU.
        let per = (SERIAL_BELOW / hidden).max(1);
        each_block(out, argmax, per * hidden, |i, best, at| {
            for (s, (best, at)) in best
                .chunks_exact_mut(hidden)
                .zip(at.chunks_exact_mut(hidden))
                .enumerate()
            {
                let b = i * per + s;
                best.copy_from_slice(&x[b * hidden..][..hidden]);
                at.iter_mut()
                    .enumerate()
                    .for_each(|(j, a)| *a = (b * hidden + j) as u32);
                for t in 1..lengths[b] as usize {
                    let first = (t * batch + b) * hidden;
                    rows::keep_larger(best, at, &x[first..][..hidden], first as u32);
                }
            }
        });
        Ok(())
    }

    fn max_pool2x2(
        &self,
        out: &mut Vec<f32>,
        argmax: &mut Vec<u32>,
        x: &Vec<f32>,
        (n, h, w): (usize, usize, usize),
        c: usize,
    ) -> Result<()> {
        check_max_pool(out.len(), argmax.len(), x.len(), (n, h, w), c)?;
        let ph = h / 2;
        // one pooled row of an image per block
        each_block(out, argmax, (w / 2) * c, |q, best, at| {
            let r = ((q / ph) * h + 2 * (q % ph)) * w;
            pool_row(best, at, &x[r * c..(r + 2 * w) * c], r, c);
        });
        Ok(())
    }

    fn batch_norm_relu_max_pool(
        &self,
        (pooled, argmax): (&mut Vec<f32>, &mut Vec<u32>),
        x: &Vec<f32>,
        (gamma, beta): (&Vec<f32>, &Vec<f32>),
        running: (&mut Vec<f32>, &mut Vec<f32>),
        saved: &mut Vec<f32>,
        eps: f32,
        momentum: Option<f32>,
        (n, h, w): (usize, usize, usize),
    ) -> Result<()> {
        let Some(momentum) = momentum else {
            let (norm, pool) = ((gamma, beta), (pooled, argmax));
            return batch_norm_relu_max_pool_apart(self, pool, x, norm, running, saved, (eps, None), (n, h, w));
        };
        let c = gamma.len();
        let columns = [c, beta.len(), running.0.len(), running.1.len()];
        check_batch_norm(x.len(), x.len(), &columns, saved.len())?;
        check_max_pool(pooled.len(), argmax.len(), x.len(), (n, h, w), c)?;
        let (mean, inv_std) = training_stats(x, c, (running.0, running.1), saved, eps, momentum)?;
        let ph = h / 2;
        // one pooled row of an image per block: its two image rows normalised (the ReLU's
        // output there, in a buffer that stays in cache), then pooled
        each_block(pooled, argmax, (w / 2) * c, |q, best, at| {
            let r = ((q / ph) * h + 2 * (q % ph)) * w;
            let mut y = vec![0f32; 2 * w * c];
            batchnorm::normalize(&mut y, &x[r * c..(r + 2 * w) * c], gamma, beta, (&mean, &inv_std), true);
            pool_row(best, at, &y, r, c);
        });
        Ok(())
    }

    fn max_pool2x2_backward(
        &self,
        dx: &mut Vec<f32>,
        dy: &Vec<f32>,
        argmax: &Vec<u32>,
        (n, h, w): (usize, usize, usize),
        c: usize,
    ) -> Result<()> {
        check_max_pool(dy.len(), argmax.len(), dx.len(), (n, h, w), c)?;
        let (ph, pw) = (h / 2, w / 2);
        // one input row of an image per block; an odd last row or column gets 0
        let unpool = |r: usize, row: &mut [f32]| {
            let (image, y) = (r / h, r % h);
            if y >= 2 * ph {
                return row.fill(0.0);
            }
            for (x, px) in row.chunks_exact_mut(c).enumerate() {
                if x >= 2 * pw {
                    px.fill(0.0);
                    continue;
                }
                let (q, p) = (((image * ph + y / 2) * pw + x / 2) * c, (r * w + x) * c);
                rows::from_window(px, &dy[q..q + c], &argmax[q..q + c], p as u32);
            }
        };
        if dx.len() < SERIAL_BELOW {
            dx.chunks_mut(w * c).enumerate().for_each(|(r, row)| unpool(r, row));
        } else {
            dx.par_chunks_mut(w * c).enumerate().for_each(|(r, row)| unpool(r, row));
        }
        Ok(())
    }

    fn dropout_mask(&self, out: &mut Vec<f32>, p: f32, key: u64, tiling: Tiling<'_, Vec<u32>>) -> Result<()> {
        check_dropout(p, &tiling, out.len(), Vec::len)?;
        let ids: &[u32] = match tiling {
            Tiling::ByWord { ids, .. } => ids,
            Tiling::Each | Tiling::Repeat(_) => &[],
        };
        let scale = 1.0 / (1.0 - p);
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, chunk)| {
            for (j, m) in chunk.iter_mut().enumerate() {
                let draw = tiling.draw(b * BLOCK + j, ids);
                *m = if mask::keep(key, draw, p) { scale } else { 0.0 };
            }
        });
        Ok(())
    }

    fn zero_loss(&self) -> Result<f64> {
        Ok(0.0)
    }

    fn read_loss(&self, loss: &f64) -> Result<f64> {
        Ok(*loss)
    }

    fn softmax_xent(&self, loss: &mut f64, logits: &Vec<f32>, targets: &Vec<u32>, v: usize) -> Result<()> {
        check_xent(1, logits.len(), targets.len(), v)?;
        check_targets(targets, v)?;
        *loss += softmax_cross_entropy(logits, targets, v);
        Ok(())
    }

    fn softmax_xent_grad(
        &self,
        loss: &mut f64,
        logits: &mut Vec<f32>,
        targets: &Vec<u32>,
        v: usize,
        bias_grad: &mut Vec<f32>,
    ) -> Result<()> {
        check_xent(1, logits.len(), targets.len(), v)?;
        check_targets(targets, v)?;
        check_bias_grad(bias_grad.len(), v)?;
        let (mean, sums) = softmax_cross_entropy_grad(logits, targets, v);
        *loss += mean;
        bias_grad.iter_mut().zip(&sums).for_each(|(g, s)| *g += s);
        Ok(())
    }

    fn lstm_forward(
        &self,
        shape: LstmShape,
        w_hh: &Vec<f32>,
        gates: &mut Vec<f32>,
        out: &mut Vec<f32>,
        cells: &mut Vec<f32>,
        h0: &Vec<f32>,
        c0: &Vec<f32>,
    ) -> Result<()> {
        check_lstm(
            shape,
            w_hh.len(),
            gates.len(),
            out.len(),
            cells.len(),
            h0.len(),
            c0.len(),
        )?;
        let LstmShape { steps, batch, hidden } = shape;
        // W_hhᵀ [H, 4H], packed once for the T recurrent products
        let w = Recurrent::new(w_hh, Layout::Transposed, hidden, 4 * hidden, steps);
        recurrence::forward(&w, Sizes { batch, hidden }, gates, out, cells, (h0, c0));
        Ok(())
    }

    fn lstm_backward(
        &self,
        shape: LstmShape,
        w_hh: &Vec<f32>,
        gates: &Vec<f32>,
        cells: &Vec<f32>,
        c0: &Vec<f32>,
        d_out: &Vec<f32>,
        d_gates: &mut Vec<f32>,
    ) -> Result<()> {
        check_lstm_backward(
            shape,
            w_hh.len(),
            gates.len(),
            cells.len(),
            c0.len(),
            d_out.len(),
            d_gates.len(),
        )?;
        let LstmShape { steps, batch, hidden } = shape;
        // W_hh [4H, H], packed once for the T recurrent products
        let w = Recurrent::new(w_hh, Layout::Plain, 4 * hidden, hidden, steps);
        let taped = Taped { gates, cells, c0 };
        recurrence::backward(&w, Sizes { batch, hidden }, taped, d_out, d_gates);
        Ok(())
    }

    fn dense(&self, w: DenseWeights) -> Result<Dense> {
        Ok(w.pack())
    }

    fn affine(&self, y: &mut Vec<f32>, x: &Vec<f32>, first: usize, rows: usize, w: &Dense) -> Result<()> {
        let (inputs, outputs) = (w.inputs(), w.outputs());
        check_affine(y.len(), x.len(), first, rows, inputs, outputs)?;
        w.forward_into(y, &x[first * inputs..(first + rows) * inputs], rows);
        Ok(())
    }

    fn layer_norm(
        &self,
        x: &mut Vec<f32>,
        first: usize,
        rows: usize,
        gamma: &Vec<f32>,
        beta: &Vec<f32>,
        eps: f32,
    ) -> Result<()> {
        let c = gamma.len();
        check_layer_norm(x.len(), first, rows, c, beta.len())?;
        layer_norm::layer_norm(&mut x[first * c..(first + rows) * c], gamma, beta, eps);
        Ok(())
    }

    fn activate(&self, x: &mut Vec<f32>, act: Activation) -> Result<()> {
        activate::activate(x, act);
        Ok(())
    }

    fn attention(&self, w: AttentionWeights) -> Result<SelfAttention> {
        Ok(SelfAttention::new(w))
    }

    fn attend(
        &self,
        context: &mut Vec<f32>,
        hidden: &Vec<f32>,
        a: &SelfAttention,
        masks: &Vec<u32>,
        shape: AttentionShape,
    ) -> Result<()> {
        check_attend(context.len(), hidden.len(), masks.len(), a.hidden(), shape)?;
        a.context(context, hidden, masks, shape);
        Ok(())
    }

    fn sgd(&self, w: &mut Vec<f32>, g: &mut Vec<f32>, lr: f32, clip: Option<(&Vec<f32>, f32)>) -> Result<()> {
        check_same("sgd", w.len(), g.len())?;
        let scale = match clip {
            Some((sum_sq, max_norm)) => clip_scale(sum_sq[0], max_norm),
            None => 1.0,
        };
        let step = lr * scale;
        each_pair(w, g, |w, g| {
            for (w, g) in w.iter_mut().zip(g.iter_mut()) {
                *w -= step * *g;
                *g = 0.0;
            }
        });
        Ok(())
    }

    fn torch_sgd(
        &self,
        w: &mut Vec<f32>,
        g: &mut Vec<f32>,
        momentum: Option<(&mut Vec<f32>, bool)>,
        s: SgdStep,
    ) -> Result<()> {
        check_same("sgd", w.len(), g.len())?;
        if let Some((buffer, _)) = &momentum {
            check_same("sgd momentum buffer", buffer.len(), w.len())?;
        }
        // elementwise, so blocks on several threads give the one-thread result
        match momentum {
            None => each_pair(w, g, |w, g| sgd::sgd(w, g, &s)),
            Some((buffer, first)) if w.len() < SERIAL_BELOW => sgd::sgd_momentum(w, g, buffer, first, &s),
            Some((buffer, first)) => w
                .par_chunks_mut(BLOCK)
                .zip(g.par_chunks_mut(BLOCK))
                .zip(buffer.par_chunks_mut(BLOCK))
                .for_each(|((w, g), b)| sgd::sgd_momentum(w, g, b, first, &s)),
        }
        Ok(())
    }

    fn adamw(&self, w: &mut Vec<f32>, g: &mut Vec<f32>, m: &mut Vec<f32>, v: &mut Vec<f32>, s: AdamStep) -> Result<()> {
        check_adam(w.len(), g.len(), m.len(), v.len())?;
        // elementwise, so blocks on several threads give the one-thread result
        if w.len() < SERIAL_BELOW {
            adam::adamw(w, g, m, v, &s);
        } else {
            w.par_chunks_mut(BLOCK)
                .zip(g.par_chunks_mut(BLOCK))
                .zip(m.par_chunks_mut(BLOCK).zip(v.par_chunks_mut(BLOCK)))
                .for_each(|((w, g), (m, v))| adam::adamw(w, g, m, v, &s));
        }
        Ok(())
    }
}

/// Batch statistics of `x` `[R, c]` for a training step: the running ones moved, `saved` =
/// (mean, 1/σ), which are returned.
fn training_stats(
    x: &[f32],
    c: usize,
    (running_mean, running_var): (&mut [f32], &mut [f32]),
    saved: &mut [f32],
    eps: f32,
    momentum: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let rows = x.len() / c;
    ensure!(rows > 1, "batch norm in training needs 2 rows or more, not {rows}");
    let (mean, var) = batchnorm::batch_stats(x, c);
    let inv_std = batchnorm::inv_std(&var, eps);
    batchnorm::update_running(running_mean, running_var, &mean, &var, rows, momentum);
    saved[..c].copy_from_slice(&mean);
    saved[c..].copy_from_slice(&inv_std);
    Ok((mean, inv_std))
}

/// One pooled row of 2×2 windows over two image rows `x` `[2·w, c]` whose first pixel is
/// pixel `r` of the input: each window's maximum and its flat index, the first of equal values
/// (its pixels in the order top left, top right, bottom left, bottom right, as torch.max takes
/// them on the CPU).
fn pool_row(best: &mut [f32], at: &mut [u32], x: &[f32], r: usize, c: usize) {
    let w = x.len() / (2 * c);
    for (px, (best, at)) in best.chunks_exact_mut(c).zip(at.chunks_exact_mut(c)).enumerate() {
        let p = 2 * px;
        best.copy_from_slice(&x[p * c..][..c]);
        at.iter_mut()
            .enumerate()
            .for_each(|(j, a)| *a = ((r + p) * c + j) as u32);
        for q in [p + 1, p + w, p + w + 1] {
            rows::keep_larger(best, at, &x[q * c..][..c], ((r + q) * c) as u32);
        }
    }
}

/// The images a convolution's products are computed from by Winograd's F(2×2, 3×3)
/// ([`winograd`]): 3×3 kernels with 8 channels or more on both sides, since the channels are
/// the inner dimension of its 16 products (a first layer's single input channel stays with the
/// patches, whose products are 9 deep). Its `ids` must be the windows of the images.
fn winograd_images(ids: &[u32], s: PatchShape) -> Result<Option<winograd::Images>> {
    let Some(im) = s.images.filter(|im| im.kernel == 3 && s.width >= 8 && s.outputs >= 8) else {
        return Ok(None);
    };
    ensure!(
        im.h >= 3 && im.w >= 3 && ids.len() == im.n * (im.h - 2) * (im.w - 2) * s.segments,
        "{} patch ids are not the 3×3 windows of {} images of {}×{}",
        ids.len(),
        im.n,
        im.h,
        im.w
    );
    Ok(Some(winograd::Images {
        n: im.n,
        h: im.h,
        w: im.w,
        channels: s.width,
    }))
}

/// The patch matrix of `s` over `x` by `ids`.
fn patch_matrix<'a>(x: &'a [f32], ids: &'a [u32], s: PatchShape) -> Patches<'a> {
    Patches {
        table: x,
        ids,
        segments: s.segments,
        width: s.width,
    }
}

/// Every target a class of `v` (read on the host, which only the CPU can do cheaply; on a GPU
/// the caller checks ids before upload, as [`crate::models::lm::LstmLm::batch`] does).
fn check_targets(targets: &[u32], v: usize) -> Result<()> {
    ensure!(
        targets.iter().all(|&t| (t as usize) < v),
        "softmax: a target outside {v} classes"
    );
    Ok(())
}
