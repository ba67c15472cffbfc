//! LUKE (Yamada et al., 2020), the entity-aware transformer, run from Hugging Face checkpoints
//! as published, with the same numbers as transformers: config, weights (`.bin` or
//! safetensors), the tokenizer with entity spans, the model and its task heads.
//!
//! Inference only, on f32 slices and `gemm` like the rest of `nn`: one GEMM per stacked
//! projection, attention per (sequence, head) in parallel.

pub mod attention;
pub mod batch;
pub mod config;
pub mod embeddings;
pub mod fairseq_words;
pub mod heads;
pub mod layers;
pub mod model;
pub mod sentencepiece;
pub mod tokenizer;
pub mod torch_pickle;
pub mod weights;
pub mod word_entity;
pub mod words;
