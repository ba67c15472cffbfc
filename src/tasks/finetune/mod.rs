//! `tsumugi finetune`: the pre-training/fine-tuning experiment. A one-layer LSTM language model
//! is pre-trained on the task's texts (`pretrain.rs`); its embedding and LSTM start the text
//! classifier (`train.rs`), which is compared with one trained from scratch at several training
//! sizes and seeds. Texts become ids as Keras makes them (`crate::data::keras_vocab`), in
//! length-bucketed batches (`batches.rs`), from the splits of `data.rs`.

pub mod batches;
pub mod compare;
pub mod data;
pub mod pretrain;
pub mod steps;
pub mod train;
