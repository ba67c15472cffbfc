//! A model's parameters on a backend: values, gradients, learning-rate scales and optimizer
//! state, by PyTorch name. Every model written over [`Backend`] keeps its weights here, so SGD
//! with clipping, AdamW, frozen parameters and per-group rates, checkpoints and resume are
//! written once.

use crate::compute::cpu::Cpu;
use crate::compute::{AdamStep, Backend, SgdStep};
use crate::kernels::norm::{clip_factor, global_norm};
use crate::nn::params::{set_lr_scale, Param, Params};
use anyhow::{bail, Context, Result};
use std::borrow::Cow;
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

impl DeviceParams<Cpu> {
    /// SGD with `clip_grad_norm_(max_norm)` when given, in the arithmetic `lm train` on the
    /// CPU has always used, so its runs keep their bits: the norm of [`global_norm`] (f64
    /// block sums over every updated gradient), then [`DeviceParams::torch_sgd_step`]'s
    /// `w -= lr·scale·(g·factor)`, where [`DeviceParams::sgd_step`] sums an f32 per parameter
    /// and takes `(lr·scale·factor)·g` (what a GPU does). Leaves every gradient zero.
    pub fn host_sgd_step(&mut self, lr: f32, max_norm: Option<f32>) -> Result<()> {
        let updated = self
            .grads
            .iter()
            .zip(&self.lr_scales)
            .filter(|(_, s)| **s != 0.0)
            .map(|(g, _)| g.as_slice());
        let factor = max_norm.map_or(1.0, |m| clip_factor(global_norm(updated), m));
        let step = SgdStep {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            grad_scale: factor,
        };
        self.torch_sgd_step(&Cpu, step)
    }
}

/// The optimizer's buffers as `{name}.momentum_buffer` (SGD) and `{name}.exp_avg` /
/// `{name}.exp_avg_sq` (AdamW), torch's buffer names, and the steps taken.
pub struct OptimizerState {
    pub tensors: Vec<(String, Vec<f32>)>,
    pub steps: u64,
}

/// A tensor's name and its values on the host.
pub type NamedValues<'a> = (&'a str, Cow<'a, [f32]>);

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

    /// Every value with its name, on the host (borrowed on the CPU): what a checkpoint writes.
    pub fn host_values(&self, be: &B) -> Result<Vec<NamedValues<'_>>> {
        let named = self.names.iter().zip(&self.values);
        named.map(|(n, v)| Ok((n.as_str(), be.host_view(v)?))).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Init;
    use rand::SeedableRng;

    /// One parameter `w` per name, each of one value with gradient `grad`, on the CPU backend.
    fn params(names: &[&str], value: f32, grad: f32) -> DeviceParams<Cpu> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut host = Params::default();
        let mut p = DeviceParams::default();
        for name in names {
            host.add(name, &[1], Init::Constant(value), true, &mut rng);
            let slot = p.upload(&Cpu, &host, name).unwrap();
            p.grads[slot][0] = grad;
        }
        p
    }

    /// Reference values computed by hand from torch.optim's update rules.
    #[test]
    fn sgd_momentum_nesterov_and_decay_follow_torch() {
        let mut p = params(&["w"], 1.0, 0.5);
        let s = SgdStep {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.1,
            grad_scale: 1.0,
        };
        p.torch_sgd_step(&Cpu, s).unwrap(); // d = 0.6, buf = 0.6, w = 1 - 0.06
        assert!((p.values[0][0] - 0.94).abs() < 1e-6);
        assert_eq!(p.grads[0][0], 0.0, "the step zeroes the gradient");
        p.grads[0][0] = 0.5;
        p.torch_sgd_step(&Cpu, s).unwrap(); // d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134
        assert!((p.values[0][0] - (0.94 - 0.1134)).abs() < 1e-6);

        let mut p = params(&["w"], 1.0, 1.0);
        let nesterov = SgdStep {
            nesterov: true,
            weight_decay: 0.0,
            ..s
        };
        p.torch_sgd_step(&Cpu, nesterov).unwrap(); // buf = 1, update = 1 + 0.9
        assert!((p.values[0][0] - 0.81).abs() < 1e-6);
    }

    /// The host step clips by the joint norm of the updated gradients and scales each as a
    /// clipped copy would; a frozen parameter keeps its value, is left out of the norm and
    /// loses its gradient; one at scale 0.5 moves half as far.
    #[test]
    fn host_sgd_clips_by_the_norm_of_the_updated_parameters() {
        let mut p = params(&["embedding.weight", "lstm.weight", "fc.weight"], 1.0, 2.0);
        assert_eq!(p.scale_lr("embedding.", 0.0).unwrap(), 1);
        assert_eq!(p.scale_lr("lstm.", 0.5).unwrap(), 1);
        // norm √8 of the two updated gradients: clipped to √2, each gradient becomes 1
        p.host_sgd_step(0.1, Some(2f32.sqrt())).unwrap();
        let values: Vec<f32> = p.values.iter().map(|v| v[0]).collect();
        assert_eq!(values[0], 1.0);
        assert!(
            (values[1] - 0.95).abs() < 1e-6 && (values[2] - 0.9).abs() < 1e-6,
            "{values:?}"
        );
        assert!(p.grads.iter().all(|g| g[0] == 0.0));
        let mut q = params(&["w"], 2.0, 4.0);
        q.host_sgd_step(0.5, None).unwrap();
        assert_eq!(q.values[0][0], 0.0);
    }

    #[test]
    fn adamw_first_step_moves_by_lr_and_decays_and_state_round_trips() {
        let adam = Adam {
            weight_decay: 0.01,
            ..Adam::default()
        };
        let mut p = params(&["w"], 2.0, -3.0);
        p.adam_step(&Cpu, 0.1, adam, 1.0).unwrap();
        // w = 2·(1 − 0.001) + 0.1 (the bias-corrected first step is ±lr)
        assert!((p.values[0][0] - (1.998 + 0.1)).abs() < 1e-5);
        let state = p.optimizer_state(&Cpu).unwrap();
        assert_eq!(state.tensors.len(), 2);
        let named: HashMap<String, Vec<f32>> = state.tensors.into_iter().collect();
        let mut again = params(&["w"], p.values[0][0], -3.0);
        again.restore_optimizer(&Cpu, &named, state.steps).unwrap();
        p.grads[0][0] = -3.0;
        p.adam_step(&Cpu, 0.1, adam, 1.0).unwrap();
        again.adam_step(&Cpu, 0.1, adam, 1.0).unwrap();
        assert_eq!(p.values[0], again.values[0]);
    }
}
