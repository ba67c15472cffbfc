//! The driver and cuBLAS through `cudarc`, loaded with dlopen on first use. cudarc panics when
//! a library is missing; every entry point here turns that into an error that names it.

use crate::compute::cuda_report::{CudaDevice, GemmCheck};
use crate::kernels::matmul::{matmul, Layout};
use anyhow::{anyhow, Result};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::CudaContext;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// Runs `f`, turning a panic inside cudarc (a CUDA library that cannot be opened) into an error;
/// the panic hook is silenced meanwhile so the user sees one message, not a backtrace.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous_hook);
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            // cudarc goes on to list every file name it tried; the first clause says enough.
            let why = why.split(" - searched").next().unwrap_or_default();
            Err(anyhow!(
                "cannot use CUDA: {why} (is the NVIDIA driver installed and are the CUDA 13 \
                 libraries, libcublas.so.13 among them, on LD_LIBRARY_PATH?)"
            ))
        }
    }
}

fn cuda_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> anyhow::Error + '_ {
    move |e| anyhow!("CUDA {what}: {e:?}")
}

pub fn devices() -> Result<Vec<CudaDevice>> {
    guarded(|| {
        let count = CudaContext::device_count().map_err(cuda_err("device count"))?;
        (0..count as usize)
            .map(|ordinal| {
                let ctx = CudaContext::new(ordinal).map_err(cuda_err("context"))?;
                Ok(CudaDevice {
                    ordinal,
                    name: ctx.name().map_err(cuda_err("device name"))?,
                    total_memory_bytes: ctx.total_mem().map_err(cuda_err("memory size"))?,
                    compute_capability: ctx.compute_capability().map_err(cuda_err("compute capability"))?,
                })
            })
            .collect()
    })
}

pub fn gemm_check(ordinal: usize, size: usize, repeats: usize) -> Result<GemmCheck> {
    let n = size;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let a: Vec<f32> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let b: Vec<f32> = (0..n * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let flops = 2.0 * (n as f64).powi(3);

    guarded(|| {
        // The device first: without one there is no point in the CPU product.
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("context"))?;
        let device = ctx.name().map_err(cuda_err("device name"))?;
        let mut want = vec![0f32; n * n];
        let start = Instant::now();
        matmul(&mut want, &a, Layout::Plain, &b, Layout::Plain, n, n, n, false);
        let cpu_seconds = start.elapsed().as_secs_f64();
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| anyhow!("cuBLAS handle: {e:?}"))?;
        let a_dev = stream.clone_htod(&a).map_err(cuda_err("copy to device"))?;
        let b_dev = stream.clone_htod(&b).map_err(cuda_err("copy to device"))?;
        let mut c_dev = stream.alloc_zeros::<f32>(n * n).map_err(cuda_err("allocation"))?;
        // cuBLAS is column-major: a row-major C = A·B is the column-major Cᵀ = Bᵀ·Aᵀ, so the
        // operands swap and no transpose is needed.
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_N,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: n as i32,
            n: n as i32,
            k: n as i32,
            alpha: 1.0f32,
            lda: n as i32,
            ldb: n as i32,
            beta: 0.0f32,
            ldc: n as i32,
        };
        let mut times = Vec::with_capacity(repeats);
        for _ in 0..=repeats {
            let start = Instant::now();
            // SAFETY: all three buffers hold n×n f32 values, as the config says.
            unsafe { blas.gemm(cfg, &b_dev, &a_dev, &mut c_dev) }.map_err(|e| anyhow!("cuBLAS sgemm: {e:?}"))?;
            stream.synchronize().map_err(cuda_err("synchronize"))?;
            times.push(start.elapsed().as_secs_f64());
        }
        times.remove(0); // the first call pays for cuBLAS's lazy set-up
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let got = stream.clone_dtoh(&c_dev).map_err(cuda_err("copy to host"))?;
        let max_abs_difference = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        Ok(GemmCheck {
            device,
            size: n,
            max_abs_difference,
            gpu_seconds_median: median,
            gpu_gflops: flops / median / 1e9,
            cpu_seconds,
            cpu_gflops: flops / cpu_seconds / 1e9,
        })
    })
}
