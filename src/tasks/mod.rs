//! One module per experiment: each wires data → features/tokenizer → model → training → report.

pub mod bench;
pub mod bench_gemm;
pub mod bench_lstm;
pub mod bench_luke;
pub mod bench_peer;
pub mod bench_vectors;
pub mod classify;
pub mod datasets;
pub mod device_check;
pub mod lm;
pub mod luke;
pub mod news;
