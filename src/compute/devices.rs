//! What tsumugi can see of CUDA, and a cuBLAS self-check: the first thing to run on a GPU
//! machine before trusting any `--device cuda` path.
//!
//! Only builds with `--features cuda` (see `tools/cuda-build.sh`) talk to the driver; other
//! builds answer every call with an error saying how to get one. The CUDA libraries are opened
//! at run time, so a CUDA build still starts, and trains on the CPU, where they are missing.

#[cfg(feature = "cuda")]
use super::cuda::driver as cuda;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CudaDevice {
    pub ordinal: usize,
    pub name: String,
    pub total_memory_bytes: usize,
    pub compute_capability: (i32, i32),
}

/// One SGEMM on the device against the CPU product of the same matrices.
#[derive(Debug, Clone, Serialize)]
pub struct GemmCheck {
    pub device: String,
    pub size: usize,
    pub max_abs_difference: f32,
    pub gpu_seconds_median: f64,
    pub gpu_gflops: f64,
    pub cpu_seconds: f64,
    pub cpu_gflops: f64,
}

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
