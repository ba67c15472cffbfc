//! `tsumugi lm generate`: text from a trained language model, as "Deep Learning from Scratch 2"
//! ch. 7 does it: feed the prompt, then sample each next word from softmax(logits / T),
//! never sampling `<unk>`; `<eos>` is printed as a line break.

use super::saved::SavedRun;
use crate::data::corpus::UNK;
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
    let mut states = model.initial_state(1);
    let v = model.cfg.vocab;
    let mut logits = model.logits(&prompt, prompt.len(), 1, &mut states);
    let mut last: Vec<f32> = logits.split_off((prompt.len() - 1) * v);
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let unk = vocab.id(UNK);
    let mut out: Vec<String> = prompt.iter().map(|&i| vocab.words[i as usize].clone()).collect();
    for _ in 0..a.words {
        let max = last.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = last
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if Some(i as u32) == unk {
                    0.0
                } else {
                    (((x - max) / a.temperature) as f64).exp()
                }
            })
            .collect();
        let next = WeightedIndex::new(&weights)?.sample(&mut rng) as u32;
        out.push(vocab.words[next as usize].clone());
        last = model.logits(&[next], 1, 1, &mut states);
    }
    Ok(out)
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
