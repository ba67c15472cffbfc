//! Whole models. `lm.rs` is written once over [`crate::compute::Backend`], so it runs on every
//! device; the classifier (`classifier.rs`) and the CPU language model (`cpu_lm.rs`, the path
//! every CPU result in README came from) are written over slices with [`crate::nn`]'s layers.

pub mod classifier;
pub mod cpu_lm;
pub mod device_params;
#[cfg(test)]
mod fixture;
pub mod layers;
pub mod lm;
pub mod lstm_classifier;
pub mod lstm_layer;
pub mod qa_head;
