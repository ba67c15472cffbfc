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
