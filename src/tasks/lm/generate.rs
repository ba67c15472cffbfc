//! `tsumugi lm generate`: text from a trained language model, as "Deep Learning from Scratch 2"
//! ch. 7 does it: feed the prompt, then sample each next word from softmax(logits / T),
//! never sampling `<unk>`; `<eos>` is printed as a line break.
//!
//! [`LstmLm`] runs on the backend the command names; the last row of its logits `[V]` comes
//! back to the host for each word, where the sampling is done.

use super::saved::SavedRun;
use crate::compute::dispatch::{on_device, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::corpus::{Vocab, UNK};
use crate::models::lm::{LstmLm, State};
use crate::models::lm_weights::LanguageModel;
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

/// The model on a backend, batch 1, fed words in order: the state carried from call to call.
struct Fed<'a, B: Backend> {
    be: &'a B,
    model: LstmLm<B>,
    state: State<B>,
}

impl<B: Backend> Fed<'_, B> {
    /// The logits `[V]` of the word after the last one of `words`.
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
    on_device(
        a.device,
        OnDevice {
            sampling,
            model: &model,
        },
    )
}

/// What to sample: from the prompt, `words` words at `temperature`, drawn from `seed`.
struct Sampling<'a> {
    vocab: &'a Vocab,
    prompt: &'a [u32],
    words: usize,
    temperature: f32,
    seed: u64,
}

impl Sampling<'_> {
    fn sample<B: Backend>(&self, mut model: Fed<'_, B>) -> Result<Vec<String>> {
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
        self.sampling.sample(Fed { be, model, state })
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
