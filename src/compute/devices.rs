//! What tsumugi can see of CUDA, and a cuBLAS self-check: the first thing to run on a GPU
//! machine before trusting any `--device cuda` path.
//!
//! Only builds with `--features cuda` (see `tools/cuda-build.sh`) talk to the driver; other
//! builds answer every call with an error saying how to get one. The CUDA libraries are opened
//! at run time, so a CUDA build still starts, and trains on the CPU, where they are missing.

#[cfg(feature = "cuda")]
use super::cuda::driver as cuda;
pub use super::cuda_report::{CudaDevice, GemmCheck};

/// Whether this binary was built with CUDA support at all.
pub const BUILT_WITH_CUDA: bool = cfg!(feature = "cuda");

#[cfg(not(feature = "cuda"))]
pub(crate) const NOT_BUILT: &str =
    "this tsumugi was built without the `cuda` feature; build one with tools/cuda-build.sh";

/// The CUDA devices the driver reports.
pub fn cuda_devices() -> anyhow::Result<Vec<CudaDevice>> {
    #[cfg(feature = "cuda")]
    return cuda::devices();
    #[cfg(not(feature = "cuda"))]
    anyhow::bail!(NOT_BUILT)
}

/// Multiplies two random `size`×`size` matrices with cuBLAS on device `ordinal` and with the
/// CPU kernel, and reports the largest difference and both speeds.
pub fn gemm_check(ordinal: usize, size: usize, repeats: usize) -> anyhow::Result<GemmCheck> {
    anyhow::ensure!(size > 0 && repeats > 0, "--size and --repeats must be positive");
    #[cfg(feature = "cuda")]
    return cuda::gemm_check(ordinal, size, repeats);
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (ordinal, size, repeats);
        anyhow::bail!(NOT_BUILT)
    }
}
