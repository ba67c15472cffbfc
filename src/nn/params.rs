//! Named parameters with their gradients, in one list that optimizers, clipping and checkpoints
//! walk without knowing the model. Names follow PyTorch's `state_dict` keys.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use rayon::prelude::*;

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Vec<f32>,
    /// Same length as `value` for trainable parameters, empty for buffers (BatchNorm statistics).
    pub grad: Vec<f32>,
    /// What the optimizer's learning rate is multiplied by for this parameter: 1 normally, a
    /// smaller factor for a layer group trained more gently (ULMFiT's discriminative rates), 0
    /// for a frozen parameter (no update, no weight decay, left out of the clipping norm).
    pub lr_scale: f32,
}

impl Param {
    pub fn trainable(&self) -> bool {
        !self.grad.is_empty()
    }

    /// Trainable and not frozen: the optimizer updates it.
    pub fn updated(&self) -> bool {
        self.trainable() && self.lr_scale != 0.0
    }
}

/// Index of a parameter in its [`Params`].
pub type ParamId = usize;

/// The list is private: parameters are only added (by [`Params::add`]), never removed or
/// reordered, so a [`ParamId`] stays valid for the model's life. Index by id to reach one.
#[derive(Debug, Clone, Default)]
pub struct Params {
    list: Vec<Param>,
}

impl std::ops::Index<ParamId> for Params {
    type Output = Param;
    fn index(&self, id: ParamId) -> &Param {
        &self.list[id]
    }
}

impl std::ops::IndexMut<ParamId> for Params {
    fn index_mut(&mut self, id: ParamId) -> &mut Param {
        &mut self.list[id]
    }
}

/// Sets `scale` on every learning-rate scale whose name starts with `prefix`; how many there
/// were. A scale that is not a finite number ≥ 0, or a prefix that names none, is an error. The
/// host's [`Params`] and a backend model's parameters both set their scales through this.
pub fn set_lr_scale<'a>(
    named: impl Iterator<Item = (&'a str, &'a mut f32)>,
    prefix: &str,
    scale: f32,
) -> anyhow::Result<usize> {
    if !(scale >= 0.0 && scale.is_finite()) {
        anyhow::bail!("a learning-rate scale must be a finite number ≥ 0, got {scale}");
    }
    let mut n = 0;
    for (_, s) in named.filter(|(name, _)| name.starts_with(prefix)) {
        *s = scale;
        n += 1;
    }
    if n == 0 {
        anyhow::bail!("no parameter is named `{prefix}…`");
    }
    Ok(n)
}

/// How to fill a new parameter.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Constant(f32),
    Normal { mean: f32, std: f32 },
    Uniform { bound: f32 },
}

impl Params {
    pub fn add(&mut self, name: &str, shape: &[usize], init: Init, trainable: bool, rng: &mut impl Rng) -> ParamId {
        let n: usize = shape.iter().product();
        let value: Vec<f32> = match init {
            Init::Constant(c) => vec![c; n],
            Init::Normal { mean, std } => {
                let d = Normal::new(mean, std).expect("finite std");
                (0..n).map(|_| d.sample(rng)).collect()
            }
            Init::Uniform { bound } => {
                let d = Uniform::new_inclusive(-bound, bound);
                (0..n).map(|_| d.sample(rng)).collect()
            }
        };
        self.list.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            grad: if trainable { vec![0.0; n] } else { Vec::new() },
            value,
            lr_scale: 1.0,
        });
        self.list.len() - 1
    }

    pub fn value(&self, id: ParamId) -> &[f32] {
        &self.list[id].value
    }

    /// Every parameter, in the order they were added (the checkpoint's order).
    pub fn iter(&self) -> std::slice::Iter<'_, Param> {
        self.list.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Param> {
        self.list.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Zeroes every gradient, large ones on all threads: the BetterRnnlm-sized model's 13M
    /// gradient values took 9 ms of a 0.41 s `bench lstm` step on one thread.
    pub fn zero_grad(&mut self) {
        for p in &mut self.list {
            p.grad.par_chunks_mut(1 << 16).for_each(|g| g.fill(0.0));
        }
    }

    pub fn get(&self, name: &str) -> Option<&Param> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The name of the first parameter holding a NaN or an infinity, if any.
    pub fn first_non_finite(&self) -> Option<&str> {
        self.list
            .iter()
            .find(|p| p.value.iter().any(|v| !v.is_finite()))
            .map(|p| p.name.as_str())
    }

    /// Multiplies the learning rate of every parameter whose name starts with `prefix` by
    /// `scale` (0 freezes them); how many there were. A prefix that names none is an error.
    pub fn scale_lr(&mut self, prefix: &str, scale: f32) -> anyhow::Result<usize> {
        let named = self.list.iter_mut().map(|p| (p.name.as_str(), &mut p.lr_scale));
        set_lr_scale(named, prefix, scale)
    }

    /// Freezes every parameter whose name starts with `prefix`: see [`Params::scale_lr`].
    pub fn freeze(&mut self, prefix: &str) -> anyhow::Result<usize> {
        self.scale_lr(prefix, 0.0)
    }

    /// Values the optimizer updates (frozen parameters and buffers left out).
    pub fn trainable_count(&self) -> usize {
        self.list.iter().filter(|p| p.updated()).map(|p| p.value.len()).sum()
    }
}
