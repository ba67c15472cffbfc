//! `tsumugi lm generate`: text from a trained language model, as "Deep Learning from Scratch 2"
//! ch. 7 does it: feed the prompt, then sample each next word from softmax(logits / T),
//! never sampling `<unk>`; `<eos>` is printed as a line break.
//!
//! The sampling loop is written once over [`NextWord`]: on the CPU the slice model
//! [`LanguageModel`] gives the logits (the text README quotes), on a GPU [`LstmLm`] on the
//! backend, whose last row of logits `[V]` comes back to the host for each word.

use super::saved::SavedRun;
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::corpus::{Vocab, UNK};
use crate::models::cpu_lm::{LanguageModel, LstmStates};
use crate::models::lm::{LstmLm, State};
use anyhow::{bail, Result};
use rand::distributions::{Distribution, WeightedIndex};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

pub struct GenerateArgs<'a> {
    pub run: &'a Path,
    pub prompt: &'a str,
    pub words: usize,
    pub temperature: f32,
    pub seed: u64,
    pub checkpoint: &'a str,
    pub device: Device,
}

/// A language model fed words in order: the logits `[V]` of the word after the last one fed,
/// the state carried from call to call.
trait NextWord {
    fn feed(&mut self, words: &[u32]) -> Result<Vec<f32>>;
}

/// The slice model on the CPU, batch 1.
struct OnCpu<'a> {
    model: &'a LanguageModel,
    states: LstmStates,
}

impl NextWord for OnCpu<'_> {
    fn feed(&mut self, words: &[u32]) -> Result<Vec<f32>> {
        let mut logits = self.model.logits(words, words.len(), 1, &mut self.states);
        Ok(logits.split_off((words.len() - 1) * self.model.cfg.vocab))
    }
}

/// The backend model, batch 1.
struct OnBackendModel<'a, B: Backend> {
    be: &'a B,
    model: LstmLm<B>,
    state: State<B>,
}

impl<B: Backend> NextWord for OnBackendModel<'_, B> {
    fn feed(&mut self, words: &[u32]) -> Result<Vec<f32>> {
        let v = self.model.cfg.vocab;
        let logits = self.model.logits(self.be, words, words.len(), 1, &mut self.state)?;
        let mut logits = self.be.download(&logits)?;
        Ok(logits.split_off((words.len() - 1) * v))
    }
}

/// The prompt followed by `words` sampled words.
pub fn run(a: &GenerateArgs) -> Result<Vec<String>> {
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be a positive number, got {}", a.temperature);
    }
    let saved = SavedRun::open(a.run)?;
    let (model, _) = saved.load(a.checkpoint)?;
    let vocab = &saved.vocab;
    let mut prompt = Vec::new();
    for w in a.prompt.split_whitespace() {
        match vocab.id(w).or_else(|| vocab.id(UNK)) {
            Some(id) => prompt.push(id),
            None => bail!("prompt word {w:?} is not in the vocabulary (which has no <unk>)"),
        }
    }
    if prompt.is_empty() {
        bail!("the prompt is empty: give at least one word");
    }
    let sampling = Sampling {
        vocab,
        prompt: &prompt,
        words: a.words,
        temperature: a.temperature,
        seed: a.seed,
    };
    match a.device {
        Device::Cpu => sampling.sample(OnCpu {
            states: model.initial_state(1),
            model: &model,
        }),
        device => on_device(
            device,
            OnDevice {
                sampling,
                model: &model,
            },
        ),
    }
}

/// What to sample, whatever gives the logits.
struct Sampling<'a> {
    vocab: &'a Vocab,
    prompt: &'a [u32],
    words: usize,
    temperature: f32,
    seed: u64,
}

impl Sampling<'_> {
    fn sample(&self, mut model: impl NextWord) -> Result<Vec<String>> {
        let vocab = self.vocab;
        let mut last = model.feed(self.prompt)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let unk = vocab.id(UNK);
        let mut out: Vec<String> = self.prompt.iter().map(|&i| vocab.words[i as usize].clone()).collect();
        for _ in 0..self.words {
            let max = last.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let weights: Vec<f64> = last
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    if Some(i as u32) == unk {
                        0.0
                    } else {
                        (((x - max) / self.temperature) as f64).exp()
                    }
                })
                .collect();
            let next = WeightedIndex::new(&weights)?.sample(&mut rng) as u32;
            out.push(vocab.words[next as usize].clone());
            last = model.feed(&[next])?;
        }
        Ok(out)
    }
}

/// Sampling with the model uploaded to a backend.
struct OnDevice<'a> {
    sampling: Sampling<'a>,
    model: &'a LanguageModel,
}

impl OnBackend for OnDevice<'_> {
    type Output = Vec<String>;
    fn run<B: Backend>(self, be: &B) -> Result<Vec<String>> {
        let model = LstmLm::new(be, self.model)?;
        let state = model.initial_state(be, 1)?;
        self.sampling.sample(OnBackendModel { be, model, state })
    }
}

/// Words joined by spaces, `<eos>` as a line break.
pub fn render(words: &[String]) -> String {
    words
        .join(" ")
        .replace(" <eos> ", "\n")
        .replace(" <eos>", "\n")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;
    use crate::models::cpu_lm::LmConfig;

    /// The backend model (on the CPU backend) gives the slice model's logits word after word,
    /// the state carried, and so the same sampled text.
    #[test]
    fn the_backend_model_samples_what_the_slice_model_samples() {
        let cfg = LmConfig {
            vocab: 17,
            embed: 12,
            hidden: 12,
            layers: 2,
            dropout: 0.5,
            tied: true,
            locked_dropout: false,
            embedding_dropout: 0.0,
        };
        let model = LanguageModel::new(cfg, 5).unwrap();
        let mut cpu = OnCpu {
            states: model.initial_state(1),
            model: &model,
        };
        let backend = LstmLm::new(&Cpu, &model).unwrap();
        let state = backend.initial_state(&Cpu, 1).unwrap();
        let mut dev = OnBackendModel {
            be: &Cpu,
            model: backend,
            state,
        };
        for words in [&[3u32, 1, 4][..], &[1], &[5, 9], &[2]] {
            let (a, b) = (cpu.feed(words).unwrap(), dev.feed(words).unwrap());
            assert_eq!(a.len(), 17);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "after {words:?}: {x} vs {y}");
            }
        }
        let words: Vec<String> = (0..17).map(|i| format!("w{i}")).collect();
        let vocab = Vocab::from_words(words);
        let sampling = Sampling {
            vocab: &vocab,
            prompt: &[3, 1],
            words: 20,
            temperature: 1.0,
            seed: 7,
        };
        let on_cpu = sampling
            .sample(OnCpu {
                states: model.initial_state(1),
                model: &model,
            })
            .unwrap();
        let on_backend = OnDevice {
            sampling,
            model: &model,
        }
        .run(&Cpu)
        .unwrap();
        assert_eq!(on_cpu.len(), 22);
        assert_eq!(on_cpu, on_backend);
    }
}
