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

/// Fails as [`on_device`] would when `device` cannot be used, so a command can say so before
/// it writes anything.
pub fn check(device: Device) -> Result<()> {
    struct Nothing;
    impl OnBackend for Nothing {
        type Output = ();
        fn run<B: Backend>(self, _: &B) -> Result<()> {
            Ok(())
        }
    }
    on_device(device, Nothing)
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
