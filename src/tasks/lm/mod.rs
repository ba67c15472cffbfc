//! LSTM language models on word-level corpora ("Deep Learning from Scratch 2" ch. 6, Zaremba
//! et al. 2014): presets, training with truncated BPTT, perplexity.

pub mod config;
pub mod engine;
pub mod eval;
pub mod generate;
mod report;
pub mod saved;
pub mod stream_loss;
pub mod train;
