//! The CPU arithmetic under every layer: tsumugi's own sgemm (`sgemm/`, packed panels and
//! AVX2 / AVX-512 micro-kernels), the products with their layouts (`matmul.rs`), small products
//! (`small_gemm.rs`), products with a convolution's patches gathered a block at a time
//! (`patches.rs`), 3×3 convolutions by Winograd's F(2×2, 3×3) (`winograd.rs`), row gathers and scatter-adds (`rows.rs`), row-major views, the widest-vector helpers for elementwise loops
//! (`fastmath.rs`), AdamW's and SGD's elementwise updates (`adam.rs`, `sgd.rs`), the clipping norm (`norm.rs`), and the pool that hands large output buffers back for reuse (`recycle.rs`).
//! It imports nothing else of tsumugi: `nn`, `compute` and `luke` build on it.

pub mod adam;
pub mod fastmath;
pub mod matmul;
pub mod norm;
pub mod patches;
pub mod recycle;
pub mod rows;
pub mod sgd;
pub mod sgemm;
pub mod small_gemm;
pub mod view;
pub mod winograd;
