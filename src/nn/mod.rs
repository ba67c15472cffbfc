//! Layers written as plain forward/backward pairs over `f32` slices, in the style of
//! "Deep Learning from Scratch 2": each layer's backward sits next to its forward with the
//! shapes in comments. The word-vector classifiers are tiny (300×4 weights), so per-op framework
//! overhead, not arithmetic, sets their speed; see `classifier.rs` for the measurement.

pub mod activation;
pub mod batchnorm;
pub mod classifier;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod params;
