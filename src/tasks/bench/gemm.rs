//! `tsumugi bench gemm`: the matrix products that decide LUKE's and the LSTM's speed, timed on
//! `matmul` (tsumugi's own sgemm on AVX-512 and AVX2 CPUs), on the `gemm` crate called directly
//! (what `matmul` used before, and still uses on other CPUs), and in the PyTorch peer
//! (`tools/peers/gemm_peer.py`, `torch.matmul` on MKL) in the same command.

use super::{flag_args, peer_seconds, run_peer, Timing};
use crate::kernels::matmul::{matmul, matmul_gemm_crate, Layout};
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Instant;

/// One product `C[m, n] = A · B`, with A `[m, k]` or stored `[k, m]`, B `[k, n]` or stored
/// `[n, k]` (a PyTorch `[out, in]` weight).
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: Layout,
    pub b: Layout,
}

impl Product {
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }

    fn layout_name(l: Layout) -> &'static str {
        match l {
            Layout::Plain => "n",
            Layout::Transposed => "t",
        }
    }
}

/// LUKE-base at batch 1 and 8 (128 words + 2 entities per sequence) and the BetterRnnlm step
/// (T·B = 700 rows, H 650, V 10,000).
pub fn products() -> Vec<Product> {
    use Layout::{Plain as N, Transposed as T};
    let p = |name, m, k, n, a, b| Product { name, m, k, n, a, b };
    vec![
        p("luke_attention_out_b1", 130, 768, 768, N, T),
        p("luke_ffn_in_b1", 130, 768, 3072, N, T),
        p("luke_ffn_out_b1", 130, 3072, 768, N, T),
        p("luke_ffn_in_b8", 1040, 768, 3072, N, T),
        p("lstm_decoder", 700, 650, 10000, N, T),
        p("lstm_decoder_grad_input", 700, 10000, 650, N, N),
        p("lstm_decoder_grad_weight", 10000, 700, 650, T, N),
        p("lstm_input_projection", 700, 650, 2600, N, T),
    ]
}

/// Deterministic operand values in [-1, 1).
fn values(len: usize, salt: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 37 + salt) % 101) as f32 / 50.5 - 1.0).collect()
}

fn time(repeats: usize, mut f: impl FnMut()) -> Timing {
    f(); // warm-up
    Timing::of(
        (0..repeats)
            .map(|_| {
                let began = Instant::now();
                f();
                began.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// `(tsumugi's matmul, the gemm crate)` timings of one product, and the largest difference
/// between their outputs.
pub fn time_ours(p: &Product, repeats: usize) -> (Timing, Timing, f32) {
    let (a, b) = (values(p.m * p.k, 1), values(p.k * p.n, 2));
    let mut ours = vec![0f32; p.m * p.n];
    let mut crate_out = vec![0f32; p.m * p.n];
    let t_ours = time(repeats, || matmul(&mut ours, &a, p.a, &b, p.b, p.m, p.k, p.n, false));
    let threads = rayon::current_num_threads();
    let t_crate = time(repeats, || {
        matmul_gemm_crate(&mut crate_out, &a, p.a, &b, p.b, p.m, p.k, p.n, false, threads)
    });
    let diff = ours
        .iter()
        .zip(&crate_out)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    (t_ours, t_crate, diff)
}

/// Runs the peer on every product; returns its seconds per product, in order.
pub fn time_peer(python: &str, script: &Path, repeats: usize, threads: usize) -> Result<Vec<Vec<f64>>> {
    let spec: Vec<String> = products()
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}:{}:{}{}",
                p.name,
                p.m,
                p.k,
                p.n,
                Product::layout_name(p.a),
                Product::layout_name(p.b)
            )
        })
        .collect();
    let mut args = flag_args(&[("--repeats", repeats), ("--threads", threads)]);
    args.extend(["--products".to_string(), spec.join(",")]);
    let parsed = run_peer(python, script, &args)?;
    products().iter().map(|p| peer_seconds(&parsed, p.name)).collect()
}

/// The printed table: one line per product.
pub fn run(repeats: usize, peer: Option<(&str, &Path, usize)>) -> Result<String> {
    if repeats == 0 {
        bail!("--repeats must be positive");
    }
    let peer_times = match peer {
        Some((python, script, threads)) => Some(time_peer(python, script, repeats, threads)?),
        None => None,
    };
    let one_thread = crate::kernels::sgemm::tile_and_peak_rates(0.5);
    let mut out = match one_thread {
        Some((isa, tile, peak)) => format!(
            "one thread: sgemm's {isa:?} {}×{} register tile {tile:.1} GFLOP/s on panels in L1, FMA peak {peak:.1} GFLOP/s ({:.0}%)\n",
            isa.mr(),
            isa.nr(),
            100.0 * tile / peak
        ),
        None => "neither AVX-512F nor AVX2: matmul runs on the gemm crate here\n".to_string(),
    };
    if let (Some((_, _, one)), Some(all)) = (one_thread, crate::kernels::sgemm::all_threads_fma_peak(0.5)) {
        out.push_str(&format!(
            "all {} threads at once: FMA peak {all:.1} GFLOP/s in all ({:.2}× one thread's {one:.1} above)\n",
            rayon::current_num_threads(),
            all / one
        ));
    }
    out.push_str(&format!(
        "products (C = A·B; layouts n = as written, t = stored transposed), median GFLOP/s, {repeats} repeats after a warm-up:\n"
    ));
    for (i, p) in products().iter().enumerate() {
        let (ours, via_crate, diff) = time_ours(p, repeats);
        let rate = |t: &Timing| p.flops() / t.median / 1e9;
        out.push_str(&format!(
            "  {:<26} {:>5}×{:>5}·{:>5}×{:<5} {}{}: tsumugi {:.2} / {:.2} / {:.2} ms ({:.1} GFLOP/s); gemm crate {:.1} GFLOP/s (max |Δ| {diff:.1e})",
            p.name,
            p.m,
            p.k,
            p.k,
            p.n,
            Product::layout_name(p.a),
            Product::layout_name(p.b),
            ours.min * 1e3,
            ours.median * 1e3,
            ours.max * 1e3,
            rate(&ours),
            rate(&via_crate),
        ));
        if let Some(times) = &peer_times {
            let theirs = Timing::of(times[i].clone());
            out.push_str(&format!(
                "; pytorch {:.1} GFLOP/s; tsumugi / pytorch = {:.2}",
                rate(&theirs),
                ours.median / theirs.median
            ));
        }
        out.push('\n');
    }
    Ok(out.trim_end().to_string())
}
