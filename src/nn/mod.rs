//! Layers written as plain forward/backward pairs over `f32` slices, in the style of
//! "Deep Learning from Scratch 2": each layer's backward sits next to its forward with the
//! shapes in comments. The CPU backend (`compute::cpu`) calls them, so models written over
//! `compute::Backend` run this arithmetic on the CPU. The word-vector classifiers are tiny
//! (300×4 weights), so per-op framework overhead, not arithmetic, sets their speed. Measured on
//! 2 cores, one epoch over 10,672 × 300 (`tools/probes/candle_classify` against `tsumugi bench
//! classify`): candle 0.11 autograd took 2.2–2.4 s at batch 1 and 0.79–0.81 s for
//! MLP+BatchNorm at batch 64; these layers took 0.039 s and 0.099 s, and PyTorch 4.7 s and
//! 0.29 s.

pub mod activate;
pub mod activation;
pub mod batchnorm;
pub mod batchnorm_pool;
pub mod dense;
pub mod entity_attention;
pub mod layer_norm;
pub mod loss;
mod lstm_cell;
pub(crate) mod lstm_recurrence;
pub mod params;
pub mod vocab_loss;
pub mod weights;
pub mod word_entity;
