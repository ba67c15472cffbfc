//! `tsumugi device --check`: what to run first on a GPU machine. One cuBLAS product against the
//! CPU's, then every [`Backend`](crate::compute::Backend) operation against its reference
//! ([`crate::compute::suite`]), then a whole language-model training step against the same step
//! on the CPU ([`crate::models::lm::check_step_against_cpu`]).

use crate::compute::devices::{self, GemmCheck};
use crate::compute::suite::OpCheck;
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceCheck {
    pub gemm: GemmCheck,
    pub backend: String,
    pub operations: Vec<OpCheck>,
}

impl DeviceCheck {
    pub fn failures(&self) -> Vec<&OpCheck> {
        self.operations.iter().filter(|c| !c.ok).collect()
    }
}

/// Runs the three checks on CUDA device `ordinal` (`size`: the square product's size).
pub fn run(ordinal: usize, size: usize, repeats: usize) -> Result<DeviceCheck> {
    let gemm = devices::gemm_check(ordinal, size, repeats)?;
    let (backend, operations) = operations(ordinal)?;
    Ok(DeviceCheck {
        gemm,
        backend,
        operations,
    })
}

#[cfg(feature = "cuda")]
fn operations(ordinal: usize) -> Result<(String, Vec<OpCheck>)> {
    use crate::compute::Backend;
    let be = crate::compute::cuda::Cuda::new(ordinal)?;
    let mut checks = crate::compute::suite::run(&be)?;
    checks.extend(crate::models::lm::check_step_against_cpu(&be)?);
    Ok((be.name(), checks))
}

#[cfg(not(feature = "cuda"))]
fn operations(_ordinal: usize) -> Result<(String, Vec<OpCheck>)> {
    anyhow::bail!(devices::NOT_BUILT)
}
