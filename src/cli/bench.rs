//! `tsumugi bench …`: side-by-side benchmarks against the PyTorch peers.

use super::flags::DeviceArg;
use super::print_json;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use tsumugi::compute::Device;
use tsumugi::tasks::bench;

/// Which loop `bench qa` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QaCase {
    /// One question's features through LUKE, against transformers.
    Features,
    /// One training epoch of the CNN, against PyTorch.
    Cnn,
    /// Both.
    All,
}

/// Which epoch `bench finetune` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FinetuneCase {
    /// One epoch of the classifier.
    Classifier,
    /// One pre-training epoch of the language model.
    Pretrain,
    /// Both.
    All,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// A LUKE-base-sized forward pass (768 × 12 layers, sequence 128, 2 entities) at batch 1
    /// and 8, against transformers on the same random weights.
    Luke(super::bench_luke::BenchLukeArgs),
    /// One training step of the LSTM language model (V 10k, H 650, 2 layers, T 35, B 20, tied),
    /// alternating with the PyTorch peer's steps.
    Lstm {
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        /// The PyTorch peer script.
        #[arg(long, default_value = "tools/peers/lstm_peer.py")]
        peer_script: PathBuf,
        /// Time tsumugi alone.
        #[arg(long)]
        no_peer: bool,
        /// Timed steps on each side (after one warm-up).
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Vocabulary size.
        #[arg(long, default_value_t = 10000)]
        vocab: usize,
        /// Hidden and embedding size.
        #[arg(long, default_value_t = 650)]
        hidden: usize,
        /// LSTM layers.
        #[arg(long, default_value_t = 2)]
        layers: usize,
        /// Time steps (BPTT length).
        #[arg(long, default_value_t = 35)]
        steps: usize,
        /// Sequences per batch.
        #[arg(long, default_value_t = 20)]
        batch: usize,
        /// Dropout probability.
        #[arg(long, default_value_t = 0.5)]
        dropout: f32,
        /// Threads for the PyTorch peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Where tsumugi's step runs (cuda needs a build with the `cuda` feature); the PyTorch
        /// peer runs on the same kind of device.
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// CUDA device ordinal for --device cuda.
        #[arg(long, default_value_t = 0)]
        ordinal: usize,
    },
    /// One epoch of the fine-tuning article's classifier and one of its language model
    /// (embedding 200, LSTM 512, Adam, batch 32) on `sentiment`, alternating with the PyTorch
    /// peer's epochs over the same batches.
    Finetune {
        /// Which epoch to time.
        #[arg(long, value_enum, default_value_t = FinetuneCase::All)]
        case: FinetuneCase,
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        /// The PyTorch peer script.
        #[arg(long, default_value = "tools/peers/finetune_peer.py")]
        peer_script: PathBuf,
        /// Time tsumugi alone.
        #[arg(long)]
        no_peer: bool,
        /// Timed epochs of each case on each side (after one warm-up).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Texts per epoch (the first of the data, in 32-text batches).
        #[arg(long, default_value_t = 5000)]
        texts: usize,
        /// Embedding width.
        #[arg(long, default_value_t = 200)]
        embed: usize,
        /// LSTM width.
        #[arg(long, default_value_t = 512)]
        hidden: usize,
        /// Threads for the PyTorch peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The CNN-on-LUKE article's two loops against their peers: one question's features
    /// through a LUKE-base-sized model (transformers), and one training epoch of its CNN
    /// (24×32 features, batch 100, AdamW; PyTorch), each alternating with the peer.
    Qa {
        /// Which loop to time.
        #[arg(long, value_enum, default_value_t = QaCase::All)]
        case: QaCase,
        /// The transformers peer script of the feature case.
        #[arg(long, default_value = "tools/peers/qa_features_peer.py")]
        features_peer_script: PathBuf,
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        /// The PyTorch peer script.
        #[arg(long, default_value = "tools/peers/qa_peer.py")]
        peer_script: PathBuf,
        /// Time tsumugi alone.
        #[arg(long)]
        no_peer: bool,
        /// Timed epochs on each side (after one warm-up).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Questions per epoch (the article trains on 8,900).
        #[arg(long, default_value_t = 8900)]
        questions: usize,
        /// Where both sides run (LUKE's features and the CNN's epoch): cpu, or cuda (a build
        /// with the `cuda` feature).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Threads for the PyTorch peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The matrix products behind LUKE and the LSTM: tsumugi's matmul, the gemm crate, and
    /// torch.matmul side by side.
    Gemm {
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        /// The PyTorch peer script.
        #[arg(long, default_value = "tools/peers/gemm_peer.py")]
        peer_script: PathBuf,
        /// Time tsumugi alone.
        #[arg(long)]
        no_peer: bool,
        /// Timed runs of each product on each side.
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Threads for the peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Loading a large word2vec binary file restricted to one dataset's vocabulary.
    Word2vec {
        /// Words in the generated file.
        #[arg(long, default_value_t = 1_000_000)]
        words: usize,
        /// Dimensions of each vector.
        #[arg(long, default_value_t = 300)]
        dim: usize,
        /// Vocabulary to keep (a news dataset uses about 20k words).
        #[arg(long, default_value_t = 20_000)]
        keep: usize,
        /// Timed loads.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Where to write the generated file (removed afterwards); default: the system temp dir.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// One epoch over 10,672 × 300 features: single-layer at batch 1, MLP+BatchNorm at batch 64.
    Classify {
        /// Python with torch installed, for the peer (skipped with --no-peer).
        #[arg(long, env = "TSUMUGI_PYTHON", default_value = "python3")]
        python: String,
        /// The PyTorch peer script.
        #[arg(long, default_value = "tools/peers/classify_peer.py")]
        peer_script: PathBuf,
        /// Time tsumugi alone.
        #[arg(long)]
        no_peer: bool,
        /// Timed epochs on each side.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Training examples per epoch.
        #[arg(long, default_value_t = 10672)]
        rows: usize,
        /// Feature dimensions.
        #[arg(long, default_value_t = 300)]
        dim: usize,
        /// Threads for the PyTorch peer (tsumugi uses every core, as RAYON_NUM_THREADS allows).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Where both sides train: cpu, or cuda (a build with the `cuda` feature; problem 78).
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Luke(args) => println!("{}", bench::luke::run(&args.into())?),

        BenchCommand::Lstm {
            python,
            peer_script,
            no_peer,
            repeats,
            vocab,
            hidden,
            layers,
            steps,
            batch,
            dropout,
            threads,
            device,
            ordinal,
        } => {
            if repeats == 0
                || vocab == 0
                || hidden == 0
                || layers == 0
                || steps == 0
                || batch == 0
                || !(0.0..1.0).contains(&dropout)
            {
                anyhow::bail!("every size must be positive and --dropout in [0, 1)");
            }
            use tsumugi::tasks::bench::lstm::{summary, time_alternating, time_tsumugi, BenchDevice, StepShape};
            let device = match device {
                DeviceArg::Cpu => BenchDevice::Cpu,
                DeviceArg::Cuda => BenchDevice::Cuda(ordinal),
            };
            let shape = StepShape {
                vocab,
                hidden,
                layers,
                steps,
                batch,
                dropout,
            };
            let (ours, peer) = if no_peer {
                (time_tsumugi(shape, repeats, device)?, None)
            } else {
                let paired = time_alternating(&python, &peer_script, shape, repeats, threads, device)?;
                (paired.ours.clone(), Some(paired))
            };
            // the CPU's FMA peak says nothing of a GPU step
            let peak = match device {
                BenchDevice::Cpu => tsumugi::kernels::sgemm::all_threads_fma_peak(0.5),
                BenchDevice::Cuda(_) => None,
            };
            println!("{}", summary(shape, &ours, peer.as_ref(), peak));
        }

        BenchCommand::Finetune {
            case,
            python,
            peer_script,
            no_peer,
            repeats,
            texts,
            embed,
            hidden,
            threads,
        } => {
            let b = bench::finetune::BenchFinetune {
                classifier: case != FinetuneCase::Pretrain,
                pretrain: case != FinetuneCase::Classifier,
                texts,
                embed,
                hidden,
                repeats,
                peer: (!no_peer).then_some((python, peer_script)),
                threads,
            };
            let results = bench::finetune::run(&b)?;
            print!("{}", bench::finetune::summary(&b, &results));
        }

        BenchCommand::Qa {
            case,
            features_peer_script,
            python,
            peer_script,
            no_peer,
            repeats,
            questions,
            threads,
            device,
        } => {
            let b = bench::qa::BenchQa {
                questions,
                repeats,
                peer: (!no_peer).then(|| (python.clone(), peer_script)),
                threads,
                device: device.into(),
            };
            if case != QaCase::Cnn {
                if no_peer {
                    anyhow::bail!("the feature case is timed against transformers: drop --no-peer or give --case cnn");
                }
                let r = bench::qa::run_features(&b, &python, &features_peer_script)?;
                print!("{}", bench::qa::features_summary(&r));
            }
            if case != QaCase::Features {
                let r = bench::qa::run(&b)?;
                print!("{}", bench::qa::summary(&b, &r));
            }
        }

        BenchCommand::Gemm {
            python,
            peer_script,
            no_peer,
            repeats,
            threads,
        } => {
            let peer = (!no_peer).then_some((python.as_str(), peer_script.as_path(), threads));
            println!("{}", bench::gemm::run(repeats, peer)?);
        }

        BenchCommand::Word2vec {
            words,
            dim,
            keep,
            repeats,
            dir,
        } => {
            if words == 0 || dim == 0 || keep == 0 || repeats == 0 {
                anyhow::bail!("--words, --dim, --keep and --repeats must be positive");
            }
            let dir = dir.unwrap_or_else(std::env::temp_dir);
            let path = dir.join(format!("tsumugi-bench-{}.bin", std::process::id()));
            println!("writing {words} × {dim} word2vec binary to {}", path.display());
            bench::vectors::write_synthetic(&path, words, dim)?;
            let size = std::fs::metadata(&path)?.len();
            let result = bench::vectors::time_restricted_load(&path, words, keep, repeats);
            let _ = std::fs::remove_file(&path);
            let (t, loaded) = result?;
            println!(
                "load restricted to {loaded} words from {:.2} GB: min {:.3} s / median {:.3} s / max {:.3} s ({repeats} repeats, file in page cache)",
                size as f64 / 1e9,
                t.min,
                t.median,
                t.max
            );
        }

        BenchCommand::Classify {
            python,
            peer_script,
            no_peer,
            repeats,
            rows,
            dim,
            threads,
            device,
            json,
        } => {
            if repeats == 0 || rows < 2 || dim == 0 {
                anyhow::bail!("--repeats, --rows (≥ 2) and --dim must be positive");
            }
            let device = device.into();
            let ours = bench::classify::time_tsumugi(rows, dim, repeats, device)?;
            let peer = if no_peer {
                None
            } else {
                Some(bench::classify::time_peer(
                    &python,
                    &peer_script,
                    rows,
                    dim,
                    repeats,
                    threads,
                    device,
                )?)
            };
            let rows_out: Vec<bench::classify::BenchRow> = ours
                .into_iter()
                .map(|(case, steps, t)| {
                    let pytorch = peer
                        .as_ref()
                        .and_then(|p| p.get(&case))
                        .map(|v| bench::Timing::of(v.clone()));
                    let speedup = pytorch.as_ref().map(|p| p.median / t.median);
                    bench::classify::BenchRow {
                        case,
                        steps,
                        tsumugi: t,
                        pytorch,
                        speedup,
                    }
                })
                .collect();
            if json {
                return print_json(&rows_out);
            }
            let on = if device == Device::Cuda { "cuda" } else { "cpu" };
            println!("one epoch on the {on}, {rows} × {dim} features, {repeats} repeats (seconds: min / median / max)");
            for r in &rows_out {
                let ours = format!("{:.4} / {:.4} / {:.4}", r.tsumugi.min, r.tsumugi.median, r.tsumugi.max);
                let theirs = r
                    .pytorch
                    .as_ref()
                    .map_or("-".into(), |p| format!("{:.4} / {:.4} / {:.4}", p.min, p.median, p.max));
                let ratio = r.speedup.map_or("-".into(), |s| format!("{s:.1}x"));
                println!(
                    "{:<15} steps {:>6}  tsumugi {ours}  ({:.0} steps/s)  pytorch {theirs}  tsumugi faster by {ratio}",
                    r.case,
                    r.steps,
                    r.steps as f64 / r.tsumugi.median
                );
            }
        }
    }
    Ok(())
}
