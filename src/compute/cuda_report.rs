//! What the CUDA driver reports, as `tsumugi device` prints it: in a file of its own so that the
//! driver (`cuda/driver.rs`, GPU builds only) and the device listing (`devices.rs`, every build)
//! share the types without importing each other.

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
