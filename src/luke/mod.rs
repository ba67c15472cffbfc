//! LUKE (Yamada et al., 2020), the entity-aware transformer, run from Hugging Face checkpoints
//! as published, with the same numbers as transformers: config, weights (`.bin` or
//! safetensors), the tokenizer with entity spans, the model and its task heads.
//!
//! Inference only, on any `compute::Backend`: the model is written once over it, and the CPU
//! runs the slice layers of `nn` (dense, LayerNorm, the entity-aware attention core).

pub mod batch;
pub mod config;
pub mod embeddings;
pub mod fairseq_words;
pub mod heads;
pub mod model;
pub mod sentencepiece;
pub mod tokenizer;
pub mod torch_pickle;
pub mod weights;
pub mod words;
