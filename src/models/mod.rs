//! Whole models, each written once over [`crate::compute::Backend`] so it runs on every device:
//! the LSTM language model (`lm.rs`, its config and host weights in `lm_weights.rs`), the
//! fine-tuned LSTM classifier (`lstm_classifier.rs`), the word-vector classifiers
//! (`classifier.rs`) and the QA heads (`qa_head.rs`), from `lstm_layer.rs` and `layers/`, with
//! their parameters in `device_params.rs`.

pub mod classifier;
pub mod device_params;
#[cfg(test)]
mod fixture;
pub mod layers;
pub mod lm;
pub mod lm_weights;
pub mod lstm_classifier;
pub mod lstm_layer;
pub mod qa_head;
