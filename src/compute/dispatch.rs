//! Running a piece of work on the backend a [`Device`] names: the work is written once,
//! generic over [`Backend`], and this picks the implementation (and says why CUDA is not at
//! hand in a build without it).

use super::{cpu::Cpu, Backend, Device};
use anyhow::Result;

/// Work that runs on any backend.
pub trait OnBackend {
    type Output;
    fn run<B: Backend>(self, be: &B) -> Result<Self::Output>;
}

/// Runs `work` on `device` (CUDA device 0 for [`Device::Cuda`]).
pub fn on_device<W: OnBackend>(device: Device, work: W) -> Result<W::Output> {
    match device {
        Device::Cpu => work.run(&Cpu),
        Device::Cuda => on_cuda(work),
    }
}

/// Fails when `device` cannot be used (a build without CUDA, or no device the driver reports),
/// so a command can say so before it writes anything. It only asks the driver: the kernels are
/// compiled once, by [`on_device`].
pub fn check(device: Device) -> Result<()> {
    if device == Device::Cpu {
        return Ok(());
    }
    let found = super::devices::cuda_devices().map_err(|e| anyhow::anyhow!("--device cuda: {e}"))?;
    anyhow::ensure!(
        !found.is_empty(),
        "--device cuda: cannot use CUDA: the driver reports no device"
    );
    Ok(())
}

#[cfg(feature = "cuda")]
fn on_cuda<W: OnBackend>(work: W) -> Result<W::Output> {
    work.run(&super::cuda::Cuda::new(0)?)
}

#[cfg(not(feature = "cuda"))]
fn on_cuda<W: OnBackend>(_work: W) -> Result<W::Output> {
    anyhow::bail!(
        "--device cuda: this tsumugi was built without the `cuda` feature; build one with tools/cuda-build.sh"
    )
}
