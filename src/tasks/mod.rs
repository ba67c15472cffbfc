//! One module per experiment: each wires data → features/tokenizer → model → training → report.

pub mod bench;
pub mod classify;
pub mod datasets;
pub mod device_check;
pub mod device_checkpoint;
pub mod finetune;
pub mod lm;
pub mod luke;
pub mod news;
pub mod qa;
