//! Where `lm train`'s steps run: the slice-based [`LanguageModel`] on the CPU (the path every
//! CPU result in README came from, unchanged), or the backend-generic [`LstmLm`] on a GPU. The
//! epoch loop in `train.rs` sees only [`Engine`].
//!
//! Dropout differs by engine: the CPU draws masks from a ChaCha stream per (seed, epoch); the
//! device engine from [`crate::compute::mask`] keyed by (seed, epoch · 2³² + batch). Both make
//! every epoch's masks again from the run's seed alone, so `--resume` is exact on either.

use super::config::LmRunConfig;
use super::stream_loss::{mean_loss, mean_loss_by};
use crate::compute::Backend;
use crate::compute::Device;
use crate::models::cpu_lm::{LanguageModel, LstmStates};
use crate::models::lm::{LstmLm, State};
use crate::nn::params::Params;
use crate::train::clip::{clip_factor, grad_norm};
use crate::train::optim::{Optimizer, OptimizerConfig};
use anyhow::Result;
use rand_chacha::ChaCha8Rng;

/// One run's model and its training steps, on some device.
pub trait Engine {
    /// A new epoch: the state starts at zero and dropout draws from the epoch's stream.
    fn start_epoch(&mut self, epoch: usize) -> Result<()>;
    /// One step on tokens and targets `[seq, batch]` (forward, backward, clip, SGD); the
    /// batch's mean loss.
    fn step(&mut self, tokens: &[u32], targets: &[u32], seq: usize, lr: f32, clip: f32) -> Result<f64>;
    /// Mean loss over a batchified stream `[rows, batch]` (state carried across chunks).
    fn mean_loss(&mut self, data: &[u32], rows: usize, batch: usize, bptt: usize) -> Result<f64>;
    /// The current weights, on the host (for a checkpoint); a device copies them back only
    /// when they changed since the last call.
    fn params(&mut self) -> Result<&Params>;
    /// Replaces the weights by `model`'s (the best checkpoint, for the test split).
    fn load(&mut self, model: LanguageModel) -> Result<()>;
    /// The device, for the log.
    fn device(&self) -> String;
}

/// The run's engine on the device its config names, starting from `model`.
pub fn new(cfg: &LmRunConfig, model: LanguageModel) -> Result<Box<dyn Engine>> {
    match cfg.device {
        Device::Cpu => Ok(Box::new(CpuEngine::new(cfg, model))),
        Device::Cuda => cuda(cfg, model),
    }
}

#[cfg(feature = "cuda")]
fn cuda(cfg: &LmRunConfig, model: LanguageModel) -> Result<Box<dyn Engine>> {
    let be = crate::compute::cuda::Cuda::new(0)?;
    Ok(Box::new(DeviceEngine::new(be, cfg, model)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_cfg: &LmRunConfig, _model: LanguageModel) -> Result<Box<dyn Engine>> {
    anyhow::bail!(
        "--device cuda: this tsumugi was built without the `cuda` feature; build one with tools/cuda-build.sh"
    )
}

/// The CPU path: [`LanguageModel`] with the optimizer's fused clip and a ChaCha dropout stream.
pub struct CpuEngine {
    model: LanguageModel,
    optimizer: Optimizer,
    rng: ChaCha8Rng,
    states: LstmStates,
    seed: u64,
    batch: usize,
}

impl CpuEngine {
    pub fn new(cfg: &LmRunConfig, model: LanguageModel) -> Self {
        let optimizer = Optimizer::new(OptimizerConfig::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        });
        Self {
            states: model.initial_state(cfg.batch_size),
            model,
            optimizer,
            rng: LanguageModel::rng(cfg.seed, 0),
            seed: cfg.seed,
            batch: cfg.batch_size,
        }
    }
}

impl Engine for CpuEngine {
    fn start_epoch(&mut self, epoch: usize) -> Result<()> {
        self.rng = LanguageModel::rng(self.seed, epoch as u64);
        self.states = self.model.initial_state(self.batch);
        Ok(())
    }

    fn step(&mut self, tokens: &[u32], targets: &[u32], seq: usize, lr: f32, clip: f32) -> Result<f64> {
        let loss = self
            .model
            .forward_backward(tokens, targets, seq, self.batch, &mut self.states, &mut self.rng);
        let factor = clip_factor(grad_norm(&self.model.params), clip);
        self.optimizer.step(&mut self.model.params, lr, factor);
        Ok(loss)
    }

    fn mean_loss(&mut self, data: &[u32], rows: usize, batch: usize, bptt: usize) -> Result<f64> {
        Ok(mean_loss(&self.model, data, rows, batch, bptt))
    }

    fn params(&mut self) -> Result<&Params> {
        Ok(&self.model.params)
    }

    fn load(&mut self, model: LanguageModel) -> Result<()> {
        self.model = model;
        Ok(())
    }

    fn device(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }
}

/// The backend path: [`LstmLm`] on `B`, its weights copied to the host only for checkpoints.
pub struct DeviceEngine<B: Backend> {
    be: B,
    model: LstmLm<B>,
    /// The host copy the checkpoints are written from.
    host: LanguageModel,
    /// Whether `host` holds the device's weights (no step since the last copy).
    host_fresh: bool,
    state: State<B>,
    seed: u64,
    batch: usize,
    epoch: u64,
    step: u64,
}

impl<B: Backend> DeviceEngine<B> {
    pub fn new(be: B, cfg: &LmRunConfig, host: LanguageModel) -> Result<Self> {
        let model = LstmLm::new(&be, &host)?;
        let state = model.initial_state(&be, cfg.batch_size)?;
        Ok(Self {
            be,
            model,
            host,
            host_fresh: true,
            state,
            seed: cfg.seed,
            batch: cfg.batch_size,
            epoch: 0,
            step: 0,
        })
    }
}

impl<B: Backend> Engine for DeviceEngine<B> {
    fn start_epoch(&mut self, epoch: usize) -> Result<()> {
        self.epoch = epoch as u64;
        self.step = 0;
        self.state = self.model.initial_state(&self.be, self.batch)?;
        Ok(())
    }

    fn step(&mut self, tokens: &[u32], targets: &[u32], seq: usize, lr: f32, clip: f32) -> Result<f64> {
        let x = self.model.batch(&self.be, tokens, targets, seq, self.batch)?;
        let key_step = (self.epoch << 32) | self.step;
        let loss = self
            .model
            .forward_backward(&self.be, &x, &mut self.state, self.seed, key_step)?;
        self.model.sgd_step(&self.be, lr, Some(clip))?;
        self.host_fresh = false;
        self.step += 1;
        Ok(self.be.download(&loss)?[0] as f64)
    }

    fn mean_loss(&mut self, data: &[u32], rows: usize, batch: usize, bptt: usize) -> Result<f64> {
        let mut state = self.model.initial_state(&self.be, batch)?;
        let (be, model) = (&self.be, &self.model);
        mean_loss_by(data, rows, batch, bptt, |tokens, targets, seq| {
            let x = model.batch(be, tokens, targets, seq, batch)?;
            Ok(be.download(&model.loss(be, &x, &mut state)?)?[0] as f64)
        })
    }

    fn params(&mut self) -> Result<&Params> {
        if !self.host_fresh {
            self.model.download_into(&self.be, &mut self.host.params)?;
            self.host_fresh = true;
        }
        Ok(&self.host.params)
    }

    fn load(&mut self, model: LanguageModel) -> Result<()> {
        self.model = LstmLm::new(&self.be, &model)?;
        self.host = model;
        self.host_fresh = true;
        Ok(())
    }

    fn device(&self) -> String {
        self.be.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use crate::data::corpus::batchify;
    use crate::models::cpu_lm::LmConfig;
    use crate::tasks::lm::config::{LrSchedule, Preset};

    /// Without dropout, one epoch through the device engine on the CPU backend gives the
    /// step losses and validation loss of the CPU engine (the same arithmetic, summed in other
    /// orders).
    #[test]
    fn the_device_engine_trains_as_the_cpu_engine_does() {
        let cfg = LmRunConfig {
            preset: Preset::ZarembaSmall,
            model: LmConfig {
                vocab: 23,
                embed: 16,
                hidden: 16,
                layers: 2,
                dropout: 0.0,
                tied: false,
                locked_dropout: false,
                embedding_dropout: 0.0,
            },
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
        let mut cpu = CpuEngine::new(&cfg, model.clone());
        let mut dev = DeviceEngine::new(Cpu, &cfg, model).unwrap();
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
        let (wa, wb) = (cpu.params().unwrap().clone(), dev.params().unwrap().clone());
        let moved = wa
            .iter()
            .zip(initial.iter())
            .any(|(p, q)| p.value.iter().zip(&q.value).any(|(x, y)| (x - y).abs() > 1e-3));
        assert!(moved, "training left the weights where they started");
        for (p, q) in wa.iter().zip(wb.iter()) {
            assert_eq!(p.name, q.name);
            for (x, y) in p.value.iter().zip(&q.value) {
                assert!((x - y).abs() < 1e-4, "{}: {x} vs {y}", p.name);
            }
        }
    }
}
