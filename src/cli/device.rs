//! `tsumugi device`: which devices this binary can compute on, and `--check` to multiply on the
//! GPU and compare with the CPU.

use anyhow::Result;
use clap::Args;
use tsumugi::gpu;

#[derive(Args)]
pub struct DeviceArgs {
    /// Run one cuBLAS SGEMM on the GPU against the CPU kernel: max |Δ| and GFLOP/s of both.
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
        let check = gpu::gemm_check(args.ordinal, args.size, args.repeats)?;
        if args.json {
            return super::print_json(&check);
        }
        println!(
            "{}: sgemm {n}×{n}×{n}: max |Δ| vs CPU {:.3e}; GPU {:.4} s ({:.0} GFLOP/s), CPU {:.4} s ({:.0} GFLOP/s)",
            check.device,
            check.max_abs_difference,
            check.gpu_seconds_median,
            check.gpu_gflops,
            check.cpu_seconds,
            check.cpu_gflops,
            n = check.size,
        );
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
