//! `tsumugi device`: which devices this binary can compute on, and `--check` to multiply on the
//! GPU and compare with the CPU.

use anyhow::Result;
use clap::Args;
use tsumugi::compute::devices as gpu;

#[derive(Args)]
pub struct DeviceArgs {
    /// Check the GPU: one cuBLAS SGEMM against the CPU kernel (max |Δ| and GFLOP/s of both), every
    /// backend operation against its reference, and an LM training step against the CPU's.
    #[arg(long)]
    check: bool,
    /// CUDA device for --check.
    #[arg(long, default_value_t = 0)]
    ordinal: usize,
    /// Matrix size for --check (square).
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// GPU repetitions for --check (median reported).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DeviceArgs) -> Result<()> {
    if args.check {
        let check = tsumugi::tasks::device_check::run(args.ordinal, args.size, args.repeats)?;
        let failures = check.failures().len();
        if args.json {
            super::print_json(&check)?;
        } else {
            let g = &check.gemm;
            println!(
                "{}: sgemm {n}×{n}×{n}: max |Δ| vs CPU {:.3e}; GPU {:.4} s ({:.0} GFLOP/s), CPU {:.4} s ({:.0} GFLOP/s)",
                g.device,
                g.max_abs_difference,
                g.gpu_seconds_median,
                g.gpu_gflops,
                g.cpu_seconds,
                g.cpu_gflops,
                n = g.size,
            );
            println!(
                "{}: every backend operation against its reference, and one LM training step against the CPU's:",
                check.backend
            );
            for c in &check.operations {
                println!(
                    "  {} {:<40} max |Δ| {:.2e} (tolerance {:.2e})",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.op,
                    c.max_abs_difference,
                    c.tolerance
                );
            }
            println!(
                "{} of {} checks within tolerance",
                check.operations.len() - failures,
                check.operations.len()
            );
        }
        anyhow::ensure!(failures == 0, "{failures} device checks failed");
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    let cuda = gpu::cuda_devices();
    if args.json {
        let value = serde_json::json!({
            "cpu_threads": threads,
            "built_with_cuda": gpu::BUILT_WITH_CUDA,
            "cuda_devices": cuda.as_ref().ok(),
            "cuda_error": cuda.as_ref().err().map(|e| format!("{e:#}")),
        });
        return super::print_json(&value);
    }
    println!("cpu: {threads} threads");
    match cuda {
        Ok(devices) if devices.is_empty() => println!("cuda: the driver reports no devices"),
        Ok(devices) => {
            for d in devices {
                println!(
                    "cuda:{}: {} ({:.1} GiB, compute capability {}.{})",
                    d.ordinal,
                    d.name,
                    d.total_memory_bytes as f64 / (1u64 << 30) as f64,
                    d.compute_capability.0,
                    d.compute_capability.1
                );
            }
        }
        Err(e) => println!("cuda: unavailable: {e:#}"),
    }
    Ok(())
}
