//! A model's parameters on a backend: values, gradients, learning-rate scales and optimizer
//! state, by PyTorch name. Every model written over [`Backend`] keeps its weights here, so SGD
//! with clipping, AdamW, frozen parameters and per-group rates, checkpoints and resume are
//! written once.

use crate::compute::{AdamStep, Backend, SgdStep};
use crate::nn::params::{set_lr_scale, Param, Params};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;

/// AdamW's hyper-parameters (Adam with `weight_decay` 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

impl Default for Adam {
    /// `torch.optim.Adam`'s defaults.
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// The optimizer's buffers as `{name}.momentum_buffer` (SGD) and `{name}.exp_avg` /
/// `{name}.exp_avg_sq` (AdamW), torch's buffer names, and the steps taken.
pub struct OptimizerState {
    pub tensors: Vec<(String, Vec<f32>)>,
    pub steps: u64,
}

/// Index of a parameter in its [`DeviceParams`].
pub type Slot = usize;

pub struct DeviceParams<B: Backend> {
    names: Vec<String>,
    values: Vec<B::Buf>,
    grads: Vec<B::Buf>,
    /// 1 normally, 0 frozen (no update, no decay, outside the clipping norm).
    lr_scales: Vec<f32>,
    /// AdamW's first and second moments, made on the first AdamW step.
    moments: Vec<Option<(B::Buf, B::Buf)>>,
    /// SGD's momentum buffers, made on the first step with momentum.
    momentum: Vec<Option<B::Buf>>,
    /// Optimizer steps taken (AdamW's bias correction; checkpoints record it).
    steps: u64,
}

impl<B: Backend> Default for DeviceParams<B> {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            values: Vec::new(),
            grads: Vec::new(),
            lr_scales: Vec::new(),
            moments: Vec::new(),
            momentum: Vec::new(),
            steps: 0,
        }
    }
}

impl<B: Backend> DeviceParams<B> {
    /// Uploads the parameter `name` of `host` with a zero gradient and its lr scale.
    pub fn upload(&mut self, be: &B, host: &Params, name: &str) -> Result<Slot> {
        let p: &Param = host
            .get(name)
            .with_context(|| format!("the model has no tensor {name}"))?;
        self.values.push(be.upload(&p.value)?);
        self.grads.push(be.zeros(p.value.len())?);
        self.lr_scales.push(p.lr_scale);
        self.moments.push(None);
        self.momentum.push(None);
        self.names.push(name.to_string());
        Ok(self.names.len() - 1)
    }

    pub fn value(&self, slot: Slot) -> &B::Buf {
        &self.values[slot]
    }

    /// Every value, indexed by slot.
    pub fn split_values(&self) -> &[B::Buf] {
        &self.values
    }

    /// The values to read and the gradients to accumulate into, at once.
    pub fn split_mut(&mut self) -> (&[B::Buf], &mut [B::Buf]) {
        (&self.values, &mut self.grads)
    }

    /// SGD with `clip_grad_norm_(max_norm)` when given, the norm summed on the device over the
    /// parameters that are updated; each moves by `lr · scale`. Leaves every gradient zero.
    pub fn sgd_step(&mut self, be: &B, lr: f32, max_norm: Option<f32>) -> Result<()> {
        let mut sum_sq = be.zeros(1)?;
        if max_norm.is_some() {
            for (g, s) in self.grads.iter().zip(&self.lr_scales) {
                if *s != 0.0 {
                    be.sum_of_squares(&mut sum_sq, g)?;
                }
            }
        }
        for ((w, g), s) in self.values.iter_mut().zip(&mut self.grads).zip(&self.lr_scales) {
            if *s == 0.0 {
                // frozen: its gradient is dropped, as torch never computes one
                *g = be.zeros(be.len(g))?;
                continue;
            }
            // one multiply by 1.0 leaves an unscaled parameter's arithmetic unchanged
            be.sgd(w, g, lr * s, max_norm.map(|m| (&sum_sq, m)))?;
        }
        Ok(())
    }

    /// Σ g² over the gradients of the parameters that are updated, read back (the clipping
    /// norm of a model that clips on the host, as the classifiers do).
    pub fn grad_sum_of_squares(&self, be: &B) -> Result<f32> {
        let mut sum_sq = be.zeros(1)?;
        for (g, s) in self.grads.iter().zip(&self.lr_scales) {
            if *s != 0.0 {
                be.sum_of_squares(&mut sum_sq, g)?;
            }
        }
        Ok(be.download(&sum_sq)?[0])
    }

    /// One `torch.optim.SGD` step at rate `s.lr · scale` per parameter, with a momentum
    /// buffer per parameter when `s.momentum` is not 0; frozen ones keep their value. Leaves
    /// every gradient zero.
    pub fn torch_sgd_step(&mut self, be: &B, s: SgdStep) -> Result<()> {
        self.steps += 1;
        for i in 0..self.values.len() {
            let scale = self.lr_scales[i];
            if self.drop_if_frozen(be, i)? {
                continue;
            }
            // one multiply by 1.0 leaves an unscaled parameter's arithmetic unchanged
            let step = SgdStep { lr: s.lr * scale, ..s };
            let momentum = if s.momentum == 0.0 {
                None
            } else {
                let first = self.momentum[i].is_none();
                let n = be.len(&self.values[i]);
                let buffer = match &mut self.momentum[i] {
                    Some(buffer) => buffer,
                    none => none.insert(be.zeros(n)?),
                };
                Some((buffer, first))
            };
            be.torch_sgd(&mut self.values[i], &mut self.grads[i], momentum, step)?;
        }
        Ok(())
    }

    /// One AdamW step at rate `lr · scale` per parameter on the gradients times `grad_scale`
    /// (a clipping factor, 1 for none); frozen ones keep their value and their moments. Leaves
    /// every gradient zero.
    pub fn adam_step(&mut self, be: &B, lr: f32, adam: Adam, grad_scale: f32) -> Result<()> {
        self.steps += 1;
        for i in 0..self.values.len() {
            let scale = self.lr_scales[i];
            if self.drop_if_frozen(be, i)? {
                continue;
            }
            let (m, v) = match &mut self.moments[i] {
                Some(moments) => moments,
                none => {
                    let n = be.len(&self.values[i]);
                    none.insert((be.zeros(n)?, be.zeros(n)?))
                }
            };
            // one multiply by 1.0 leaves an unscaled parameter's arithmetic unchanged
            let s = AdamStep::new(
                lr * scale,
                adam.beta1,
                adam.beta2,
                adam.eps,
                adam.weight_decay,
                self.steps,
            )
            .scaled(grad_scale);
            be.adamw(&mut self.values[i], &mut self.grads[i], m, v, s)?;
        }
        Ok(())
    }

    /// Drops the gradient of parameter `i` when it is frozen (as torch never computes one);
    /// whether it was.
    fn drop_if_frozen(&mut self, be: &B, i: usize) -> Result<bool> {
        if self.lr_scales[i] != 0.0 {
            return Ok(false);
        }
        let n = be.len(&self.grads[i]);
        self.grads[i] = be.zeros(n)?;
        Ok(true)
    }

    /// Sets the lr scale of every parameter whose name starts with `prefix` (0 freezes); how
    /// many matched, as [`Params::scale_lr`] does.
    pub fn scale_lr(&mut self, prefix: &str, scale: f32) -> Result<usize> {
        let named = self.names.iter().map(String::as_str).zip(self.lr_scales.iter_mut());
        set_lr_scale(named, prefix, scale)
    }

    /// Every gradient by name, downloaded.
    pub fn gradients(&self, be: &B) -> Result<Vec<(String, Vec<f32>)>> {
        self.names
            .iter()
            .zip(&self.grads)
            .map(|(n, g)| Ok((n.clone(), be.download(g)?)))
            .collect()
    }

    /// Writes the weights back into `params` by name (for a checkpoint).
    pub fn download_into(&self, be: &B, params: &mut Params) -> Result<()> {
        for (name, value) in self.names.iter().zip(&self.values) {
            let p = params
                .iter_mut()
                .find(|p| &p.name == name)
                .with_context(|| format!("no tensor {name} to write back"))?;
            p.value = be.download(value)?;
        }
        Ok(())
    }

    /// The optimizer's state, for a checkpoint.
    pub fn optimizer_state(&self, be: &B) -> Result<OptimizerState> {
        let mut tensors = Vec::new();
        for ((name, m), b) in self.names.iter().zip(&self.moments).zip(&self.momentum) {
            if let Some(b) = b {
                tensors.push((format!("{name}.momentum_buffer"), be.download(b)?));
            }
            if let Some((m, v)) = m {
                tensors.push((format!("{name}.exp_avg"), be.download(m)?));
                tensors.push((format!("{name}.exp_avg_sq"), be.download(v)?));
            }
        }
        Ok(OptimizerState {
            tensors,
            steps: self.steps,
        })
    }

    /// Restores what [`DeviceParams::optimizer_state`] saved; a moment of the wrong size is an
    /// error naming it.
    pub fn restore_optimizer(&mut self, be: &B, state: &HashMap<String, Vec<f32>>, steps: u64) -> Result<()> {
        self.steps = steps;
        for i in 0..self.names.len() {
            let get = |b: &str| state.get(&format!("{}.{b}", self.names[i]));
            let n = be.len(&self.values[i]);
            self.momentum[i] = match get("momentum_buffer") {
                Some(b) if b.len() != n => bail!(
                    "optimizer state of {} has {} values, the weight {n}",
                    self.names[i],
                    b.len()
                ),
                Some(b) => Some(be.upload(b)?),
                None => None,
            };
            self.moments[i] = match (get("exp_avg"), get("exp_avg_sq")) {
                (Some(m), Some(v)) => {
                    if m.len() != n || v.len() != n {
                        bail!(
                            "optimizer state of {} has {} values, the weight {n}",
                            self.names[i],
                            m.len()
                        );
                    }
                    Some((be.upload(m)?, be.upload(v)?))
                }
                _ => None,
            };
        }
        Ok(())
    }
}
