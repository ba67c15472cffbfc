//! The configuration and host-side weights of the LSTM language model of "Deep Learning from
//! Scratch 2" (BetterRnnlm) and PyTorch's word_language_model example: embedding → dropout →
//! LSTM × L (dropout between layers) → dropout → linear decoder, its weight tied to the
//! embedding by default. Parameter names follow that example (`encoder.weight`,
//! `rnn.weight_ih_l0`, …, `decoder.bias`); [`crate::models::lm`] runs it.

use super::lstm_layer::LstmLayer;
use crate::nn::params::{Init, Params};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    pub vocab: usize,
    /// Embedding size D (equal to `hidden` when tied).
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f32,
    pub tied: bool,
    /// Variational dropout: the same mask at every time step of a batch.
    #[serde(default)]
    pub locked_dropout: bool,
    /// Probability of dropping a whole word's embedding for a batch.
    #[serde(default)]
    pub embedding_dropout: f32,
}

impl LmConfig {
    /// `layers` × `hidden` without dropout, embedding width `embed`; everything else off.
    pub fn plain(vocab: usize, embed: usize, hidden: usize, layers: usize, tied: bool) -> Self {
        Self {
            vocab,
            embed,
            hidden,
            layers,
            dropout: 0.0,
            tied,
            locked_dropout: false,
            embedding_dropout: 0.0,
        }
    }
}

/// The model's configuration and weights on the host, by PyTorch name: what a run
/// initialises, checkpoints and loads; [`crate::models::lm::LstmLm`] uploads them to a backend
/// to run.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    pub cfg: LmConfig,
    pub params: Params,
}

impl LanguageModel {
    /// Init as the PyTorch example: embedding and decoder weight uniform ±0.1, decoder bias 0.
    pub fn new(cfg: LmConfig, seed: u64) -> Result<Self> {
        if cfg.tied && cfg.embed != cfg.hidden {
            bail!(
                "a tied decoder needs the embedding size ({}) to equal the hidden size ({})",
                cfg.embed,
                cfg.hidden
            );
        }
        if cfg.layers == 0 || cfg.vocab == 0 || cfg.hidden == 0 {
            bail!("the language model needs at least one layer, one word and one hidden unit");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Params::default();
        params.add(
            "encoder.weight",
            &[cfg.vocab, cfg.embed],
            Init::Uniform { bound: 0.1 },
            true,
            &mut rng,
        );
        for l in 0..cfg.layers {
            let input = if l == 0 { cfg.embed } else { cfg.hidden };
            LstmLayer::init(&mut params, "rnn", l, input, cfg.hidden, &mut rng);
        }
        if !cfg.tied {
            params.add(
                "decoder.weight",
                &[cfg.vocab, cfg.hidden],
                Init::Uniform { bound: 0.1 },
                true,
                &mut rng,
            );
        }
        params.add("decoder.bias", &[cfg.vocab], Init::Constant(0.0), true, &mut rng);
        Ok(Self { cfg, params })
    }

    /// A seeded RNG stream for dropout.
    pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        r
    }

    pub fn random_tokens(&self, n: usize, rng: &mut impl Rng) -> Vec<u32> {
        (0..n).map(|_| rng.gen_range(0..self.cfg.vocab as u32)).collect()
    }
}

/// In words: `2 × 650 LSTM, vocabulary 10000, dropout 0.5, tied decoder`.
impl std::fmt::Display for LmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} × {} LSTM", self.layers, self.hidden)?;
        if self.embed != self.hidden {
            write!(f, ", embedding {}", self.embed)?;
        }
        write!(f, ", vocabulary {}, dropout {}", self.vocab, self.dropout)?;
        if self.locked_dropout {
            write!(f, " (locked across time steps)")?;
        }
        if self.embedding_dropout > 0.0 {
            write!(f, ", embedding dropout {}", self.embedding_dropout)?;
        }
        write!(f, ", {} decoder", if self.tied { "tied" } else { "untied" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tying_needs_equal_sizes() {
        let cfg = LmConfig::plain(7, 3, 4, 1, true);
        assert!(LanguageModel::new(cfg, 0)
            .unwrap_err()
            .to_string()
            .contains("tied decoder"));
    }
}
