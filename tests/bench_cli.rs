//! The benchmark commands run on small shapes and print their tables, without PyTorch (which
//! tests never need): the alternating protocol is exercised with stand-in peers written in sh.

mod common;
use common::*;

/// A training step small enough for a test.
const SMALL_LSTM: [&str; 10] = [
    "--vocab",
    "50",
    "--hidden",
    "8",
    "--steps",
    "3",
    "--batch",
    "2",
    "--repeats",
    "3",
];

#[test]
fn bench_classify_prints_both_cases() {
    let out = ok(&[
        "bench",
        "classify",
        "--no-peer",
        "--rows",
        "200",
        "--dim",
        "16",
        "--repeats",
        "2",
    ]);
    assert!(out.contains("slp_batch1") && out.contains("steps    200"), "{out}");
    assert!(out.contains("mlp_bn_batch64") && out.contains("steps      4"), "{out}");
    fails(&["bench", "classify", "--no-peer", "--rows", "1"], &["--rows (≥ 2)"]);
    // on a GPU both sides train there; without a usable one, --device cuda says why
    if let Some(needle) = no_gpu_message() {
        fails(
            &["bench", "classify", "--no-peer", "--rows", "200", "--device", "cuda"],
            &[needle],
        );
    }
}

#[test]
fn bench_lstm_prints_step_time_and_gflops() {
    let mut args = vec!["bench", "lstm", "--no-peer"];
    args.extend(SMALL_LSTM);
    let out = ok(&args);
    assert!(
        out.contains("LM step V 50 H 8 L 2 T 3 B 2") && out.contains("GFLOP/s") && out.contains("tokens/s"),
        "{out}"
    );
    fails(
        &["bench", "lstm", "--no-peer", "--dropout", "1.5"],
        &["--dropout in [0, 1)"],
    );
    // without a usable GPU, --device cuda says why (no build feature, or no driver)
    if let Some(needle) = no_gpu_message() {
        let mut args = vec!["bench", "lstm", "--no-peer", "--device", "cuda"];
        args.extend(SMALL_LSTM);
        fails(&args, &[needle]);
    }
}

#[test]
fn bench_word2vec_loads_the_restricted_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        "bench",
        "word2vec",
        "--words",
        "2000",
        "--dim",
        "4",
        "--keep",
        "100",
        "--repeats",
        "2",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.contains("load restricted to 100 words"), "{out}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the generated file is removed"
    );
}

#[test]
fn bench_luke_times_a_checkpoint_without_the_peer() {
    let model = format!("{}/tests/fixtures/luke/pair_dense_bin", env!("CARGO_MANIFEST_DIR"));
    let out = ok(&[
        "bench",
        "luke",
        "--no-peer",
        "--model",
        &model,
        "--seq",
        "20",
        "--batches",
        "1,3",
        "--repeats",
        "2",
    ]);
    assert!(
        out.contains("hidden 32 × 2 layers") && out.contains("batch 1:") && out.contains("batch 3:"),
        "{out}"
    );
    fails(
        &["bench", "luke", "--no-peer", "--model", &model, "--seq", "100"],
        &["exceeds", "positions"],
    );
    fails(
        &["bench", "luke", "--no-peer", "--model", &model, "--batches", "0"],
        &["positive"],
    );
}

#[test]
fn bench_gemm_times_every_product_and_compares_with_the_gemm_crate() {
    let out = ok(&["bench", "gemm", "--no-peer", "--repeats", "1"]);
    for name in ["luke_ffn_in_b1", "lstm_decoder", "lstm_decoder_grad_weight"] {
        assert!(out.contains(name), "{out}");
    }
    assert_eq!(out.matches("gemm crate").count(), 8, "{out}");
    assert!(
        (out.contains("register tile") && out.contains("threads at once: FMA peak"))
            || out.contains("neither AVX-512F nor AVX2"),
        "{out}"
    );
    // The two implementations agree on every product (values in [-1, 1), k ≤ 10,000).
    let products: Vec<&str> = out.lines().filter(|l| l.contains("max |Δ| ")).collect();
    assert_eq!(products.len(), 8, "{out}");
    for line in products {
        let diff: f64 = line
            .rsplit("max |Δ| ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap();
        assert!(diff < 1e-2, "{line}");
    }
    fails(
        &["bench", "gemm", "--no-peer", "--repeats", "0"],
        &["--repeats must be positive"],
    );
}

/// A stand-in peer in POSIX sh speaking the `--serve` protocol of `tools/peers/serve.py`, so the
/// alternating path runs without Python.
fn fake_peer(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn bench_lstm_alternates_with_a_served_peer() {
    let dir = tempfile::tempdir().unwrap();
    let peer = fake_peer(
        dir.path(),
        "steady.sh",
        "echo '{\"ready\": true}'\nwhile read case; do echo '{\"seconds\": 0.5}'; done\n",
    );
    let mut args = vec!["bench", "lstm", "--python", "sh", "--peer-script", &peer];
    args.extend(SMALL_LSTM);
    let out = ok(&args);
    assert!(out.contains("pytorch 0.5000 / 0.5000 / 0.5000 s"), "{out}");
    assert!(out.contains("median of 3 alternating pairs"), "{out}");
    // Where sgemm runs, the floor the FMA peak sets, and both sides' share of it.
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        assert!(
            out.contains("FMA peak of all threads at once") && out.contains("PyTorch's at"),
            "{out}"
        );
    }
}

#[test]
fn bench_lstm_reports_a_failing_peer() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "dies.sh",
            "echo 'no torch here' >&2; exit 3\n",
            vec!["exited", "no torch here"],
        ),
        ("babbles.sh", "echo 'hello'\n", vec!["printed \"hello\", not JSON"]),
        (
            "refuses.sh",
            "echo '{\"ready\": true}'\nwhile read case; do echo '{\"error\": \"unknown case\"}'; done\n",
            vec!["not {\"seconds\": …}"],
        ),
        (
            "quits.sh",
            "echo '{\"ready\": true}'\nread case; echo 'gave up' >&2\n",
            vec!["exited", "gave up"],
        ),
    ];
    for (name, body, needles) in cases {
        let peer = fake_peer(dir.path(), name, body);
        let mut args = vec!["bench", "lstm", "--python", "sh", "--peer-script", &peer];
        args.extend(SMALL_LSTM);
        fails(&args, &needles);
    }
    fails(
        &["bench", "lstm", "--python", "sh", "--peer-script", "no/such/peer.py"],
        &["peer script no/such/peer.py not found"],
    );
}

#[test]
fn bench_finetune_refuses_bad_sizes_before_fetching_anything() {
    common::fails(&["bench", "finetune", "--no-peer", "--repeats", "0"], &["--repeats"]);
    common::fails(&["bench", "finetune", "--no-peer", "--hidden", "0"], &["--hidden"]);
}

#[test]
fn bench_qa_times_the_cnn_epoch_and_refuses_the_feature_case_without_its_peer() {
    let out = ok(&[
        "bench",
        "qa",
        "--case",
        "cnn",
        "--no-peer",
        "--questions",
        "4",
        "--repeats",
        "1",
    ]);
    assert!(
        out.contains("article's CNN on the cpu over 4 questions") && out.contains("tsumugi"),
        "{out}"
    );
    fails(
        &["bench", "qa", "--case", "features", "--no-peer"],
        &["against transformers", "--case cnn"],
    );
    fails(
        &["bench", "qa", "--case", "cnn", "--no-peer", "--questions", "1"],
        &["--questions"],
    );
    if let Some(needle) = no_gpu_message() {
        // refused before any peer starts
        fails(
            &[
                "bench",
                "qa",
                "--case",
                "features",
                "--device",
                "cuda",
                "--python",
                "no-such-python",
            ],
            &["--device cuda", needle],
        );
        fails(
            &[
                "bench",
                "qa",
                "--case",
                "cnn",
                "--no-peer",
                "--questions",
                "4",
                "--device",
                "cuda",
            ],
            &[needle],
        );
    }
}
