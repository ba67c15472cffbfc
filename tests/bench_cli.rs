//! The benchmark commands run on small shapes and print their tables (without the PyTorch peer,
//! which tests never need).

mod common;
use common::*;

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
}

#[test]
fn bench_lstm_prints_step_time_and_gflops() {
    let out = ok(&[
        "bench",
        "lstm",
        "--no-peer",
        "--vocab",
        "50",
        "--hidden",
        "8",
        "--steps",
        "3",
        "--batch",
        "2",
        "--repeats",
        "2",
    ]);
    assert!(
        out.contains("LM step V 50 H 8 L 2 T 3 B 2") && out.contains("GFLOP/s"),
        "{out}"
    );
    fails(
        &["bench", "lstm", "--no-peer", "--dropout", "1.5"],
        &["--dropout in [0, 1)"],
    );
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
    assert!(out.contains("register tile") || out.contains("no AVX-512F"), "{out}");
    // The two implementations agree on every product (values in [-1, 1), k ≤ 10,000).
    for line in out.lines().skip(2) {
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
