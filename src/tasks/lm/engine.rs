//! Where `lm train`'s steps and `lm eval`'s loss run: [`LstmLm`] on the backend the config
//! names. The epoch loop in `train.rs` sees only [`Engine`].
//!
//! The engines differ in two things, each to keep a device's results what they were:
//! - **Dropout.** The CPU draws masks from a ChaCha stream per (seed, epoch) on the host; a GPU
//!   from [`crate::compute::mask`] keyed by (seed, epoch · 2³² + batch), on the device. Both make
//!   every epoch's masks again from the run's seed alone, so `--resume` is exact on either.
//! - **The SGD step.** The CPU clips by the f64 norm of [`DeviceParams::host_sgd_step`]; a GPU
//!   sums and clips on the device ([`LstmLm::sgd_step`]).
//!
//! [`DeviceParams::host_sgd_step`]: crate::models::device_params::DeviceParams::host_sgd_step

use super::config::LmRunConfig;
use super::stream_loss::mean_loss_by;
use crate::compute::cpu::Cpu;
use crate::compute::Backend;
use crate::compute::Device;
use crate::models::lm::{LstmLm, Masks, State};
use crate::models::lm_weights::LanguageModel;
use crate::train::checkpoint::write_tensors;
use anyhow::{Context, Result};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// One run's model and its training steps, on some device.
pub trait Engine {
    /// A new epoch: the state starts at zero and dropout draws from the epoch's stream.
    fn start_epoch(&mut self, epoch: usize) -> Result<()>;
    /// One step on tokens and targets `[seq, batch]` (forward, backward, clip, SGD); the
    /// batch's mean loss.
    fn step(&mut self, tokens: &[u32], targets: &[u32], seq: usize, lr: f32, clip: f32) -> Result<f64>;
    /// Mean loss over a batchified stream `[rows, batch]` (state carried across chunks).
    fn mean_loss(&mut self, data: &[u32], rows: usize, batch: usize, bptt: usize) -> Result<f64>;
    /// Writes the current weights by PyTorch name to a checkpoint at `path`, with `meta`.
    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()>;
    /// Replaces the weights by `model`'s (the best checkpoint, for the test split).
    fn load(&mut self, model: LanguageModel) -> Result<()>;
    /// The device, for the log.
    fn device(&self) -> String;
}

/// The run's engine on the device its config names, starting from `model`.
pub fn new(cfg: &LmRunConfig, model: LanguageModel) -> Result<Box<dyn Engine>> {
    match cfg.device {
        Device::Cpu => Ok(Box::new(DeviceEngine::on_cpu(model, cfg.seed, cfg.batch_size)?)),
        Device::Cuda => cuda(cfg, model),
    }
}

#[cfg(feature = "cuda")]
fn cuda(cfg: &LmRunConfig, model: LanguageModel) -> Result<Box<dyn Engine>> {
    let be = crate::compute::cuda::Cuda::new(0)?;
    Ok(Box::new(DeviceEngine::new(be, model, cfg.seed, cfg.batch_size)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_cfg: &LmRunConfig, _model: LanguageModel) -> Result<Box<dyn Engine>> {
    anyhow::bail!(
        "--device cuda: this tsumugi was built without the `cuda` feature; build one with tools/cuda-build.sh"
    )
}

/// One SGD step with clipping at `max_norm` over the model's gradients.
type Update<B> = fn(&mut LstmLm<B>, &B, f32, f32) -> Result<()>;

/// [`LstmLm`] on `B`. The weights live on the backend alone: a checkpoint reads them there (on
/// the CPU without a copy; a GPU's come back to the host for it).
pub struct DeviceEngine<B: Backend> {
    be: B,
    model: LstmLm<B>,
    /// Every tensor's name and shape, in the order checkpoints list them.
    shapes: Vec<(String, Vec<usize>)>,
    state: State<B>,
    seed: u64,
    batch: usize,
    epoch: u64,
    step: u64,
    /// The epoch's mask stream on the CPU; `None` draws keyed masks on the device.
    stream: Option<ChaCha8Rng>,
    update: Update<B>,
}

impl DeviceEngine<Cpu> {
    /// The CPU engine for batches of `batch`: masks from the epoch's ChaCha stream of `seed`,
    /// the host's SGD arithmetic.
    pub fn on_cpu(host: LanguageModel, seed: u64, batch: usize) -> Result<Self> {
        let mut engine = Self::new(Cpu, host, seed, batch)?;
        engine.stream = Some(LanguageModel::rng(seed, 0));
        engine.update = |m, _, lr, clip| m.params_mut().host_sgd_step(lr, Some(clip));
        Ok(engine)
    }
}

impl<B: Backend> DeviceEngine<B> {
    /// The engine a GPU runs, for batches of `batch`: masks keyed by `seed`, the device's SGD
    /// step.
    pub fn new(be: B, host: LanguageModel, seed: u64, batch: usize) -> Result<Self> {
        let model = LstmLm::new(&be, &host)?;
        let state = model.initial_state(&be, batch)?;
        let shapes = host.params.iter().map(|p| (p.name.clone(), p.shape.clone())).collect();
        Ok(Self {
            be,
            model,
            shapes,
            state,
            seed,
            batch,
            epoch: 0,
            step: 0,
            stream: None,
            update: |m, be, lr, clip| m.sgd_step(be, lr, Some(clip)),
        })
    }
}

impl<B: Backend> Engine for DeviceEngine<B> {
    fn start_epoch(&mut self, epoch: usize) -> Result<()> {
        self.epoch = epoch as u64;
        self.step = 0;
        if let Some(stream) = &mut self.stream {
            *stream = LanguageModel::rng(self.seed, epoch as u64);
        }
        self.state = self.model.initial_state(&self.be, self.batch)?;
        Ok(())
    }

    fn step(&mut self, tokens: &[u32], targets: &[u32], seq: usize, lr: f32, clip: f32) -> Result<f64> {
        let x = self.model.batch(&self.be, tokens, targets, seq, self.batch)?;
        let masks = match &mut self.stream {
            Some(stream) => Masks::Stream(stream),
            None => Masks::Keyed {
                seed: self.seed,
                step: (self.epoch << 32) | self.step,
            },
        };
        let loss = self.model.forward_backward(&self.be, &x, &mut self.state, masks)?;
        (self.update)(&mut self.model, &self.be, lr, clip)?;
        self.step += 1;
        self.be.read_loss(&loss)
    }

    fn mean_loss(&mut self, data: &[u32], rows: usize, batch: usize, bptt: usize) -> Result<f64> {
        let mut state = self.model.initial_state(&self.be, batch)?;
        let (be, model) = (&self.be, &self.model);
        mean_loss_by(data, rows, batch, bptt, |tokens, targets, seq| {
            let x = model.batch(be, tokens, targets, seq, batch)?;
            be.read_loss(&model.loss(be, &x, &mut state)?)
        })
    }

    fn save(&mut self, path: &Path, meta: serde_json::Value) -> Result<()> {
        let values: HashMap<&str, Cow<[f32]>> = self.model.params().host_values(&self.be)?.into_iter().collect();
        let tensors = self
            .shapes
            .iter()
            .map(|(name, shape)| {
                let value = values
                    .get(name.as_str())
                    .with_context(|| format!("no tensor {name} to save"))?;
                Ok((name.clone(), shape.clone(), value.as_ref()))
            })
            .collect::<Result<Vec<_>>>()?;
        write_tensors(path, &tensors, &[], Some(&meta))
    }

    fn load(&mut self, model: LanguageModel) -> Result<()> {
        self.model = LstmLm::new(&self.be, &model)?;
        Ok(())
    }

    fn device(&self) -> String {
        self.be.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::corpus::batchify;
    use crate::models::lm_weights::LmConfig;
    use crate::tasks::lm::config::{LrSchedule, Preset};

    /// Without dropout, one epoch of the CPU engine (its host SGD step) and of the engine a GPU
    /// runs (the device's SGD step, here on the CPU backend) give the same step losses,
    /// validation loss and weights within rounding: the two steps are one update, clipped in
    /// other orders.
    #[test]
    fn the_device_engine_trains_as_the_cpu_engine_does() {
        let cfg = LmRunConfig {
            preset: Preset::ZarembaSmall,
            model: LmConfig::plain(23, 16, 16, 2, false),
            lr: 5.0,
            clip: 0.25,
            batch_size: 4,
            eval_batch_size: 2,
            bptt: 7,
            epochs: 1,
            schedule: LrSchedule::Plateau { factor: 0.25 },
            seed: 3,
            max_batches: None,
            device: Device::Cpu,
        };
        // a stream with structure to learn: mostly t → 3t + 1 (mod 23)
        let tokens: Vec<u32> = (0..600u32)
            .map(|i| (i * 7 % 23 * 3 + 1 + (i % 11 == 0) as u32) % 23)
            .collect();
        let (train, rows) = batchify(&tokens, cfg.batch_size);
        let (valid, valid_rows) = batchify(&tokens[..200], cfg.eval_batch_size);
        let model = LanguageModel::new(cfg.model.clone(), cfg.seed).unwrap();
        let initial = model.params.clone();
        let mut cpu = DeviceEngine::on_cpu(model.clone(), cfg.seed, cfg.batch_size).unwrap();
        let mut dev = DeviceEngine::new(Cpu, model, cfg.seed, cfg.batch_size).unwrap();
        cpu.start_epoch(1).unwrap();
        dev.start_epoch(1).unwrap();
        let mut i = 0;
        while i + 1 < rows {
            let seq = cfg.bptt.min(rows - 1 - i);
            let x = &train[i * cfg.batch_size..(i + seq) * cfg.batch_size];
            let y = &train[(i + 1) * cfg.batch_size..(i + 1 + seq) * cfg.batch_size];
            let a = cpu.step(x, y, seq, cfg.lr, cfg.clip).unwrap();
            let b = dev.step(x, y, seq, cfg.lr, cfg.clip).unwrap();
            assert!((a - b).abs() < 1e-4 * a, "step at row {i}: {a} vs {b}");
            i += seq;
        }
        let a = cpu.mean_loss(&valid, valid_rows, 2, cfg.bptt).unwrap();
        let b = dev.mean_loss(&valid, valid_rows, 2, cfg.bptt).unwrap();
        assert!((a - b).abs() < 1e-4 * a, "valid loss {a} vs {b}");
        let (wa, wb) = (
            cpu.model.params().host_values(&Cpu).unwrap(),
            dev.model.params().host_values(&Cpu).unwrap(),
        );
        let moved = wa.iter().any(|(name, v)| {
            let start = &initial.get(name).unwrap().value;
            v.iter().zip(start).any(|(x, y)| (x - y).abs() > 1e-3)
        });
        assert!(moved, "training left the weights where they started");
        for ((name, a), (other, b)) in wa.iter().zip(&wb) {
            assert_eq!(name, other);
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() < 1e-4, "{name}: {x} vs {y}");
            }
        }
    }
}
