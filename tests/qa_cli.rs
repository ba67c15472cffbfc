//! `tsumugi qa`: features against transformers 4.57 on the tiny mLUKE multiple-choice fixture
//! (`tools/gen_qa_golden.py`), and bad input.

mod common;

use common::{fails, ok};
use std::path::Path;
use tsumugi::tasks::qa::features::FeatureFile;

const MODEL: &str = "tests/fixtures/luke/sentencepiece_choice_safetensors";
const DATA: &str = "tests/fixtures/qa/jcqa.json";

/// `qa features --model MODEL --data DATA` followed by `args`.
fn features<'a>(args: &[&'a str]) -> Vec<&'a str> {
    ["qa", "features", "--model", MODEL, "--data", DATA]
        .iter()
        .chain(args)
        .copied()
        .collect()
}

fn qa_features<'a>(args: &[&'a str]) -> Vec<&'a str> {
    ["qa", "features"].iter().chain(args).copied().collect()
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string("tests/fixtures/qa/features_golden.json").unwrap()).unwrap()
}

#[test]
fn features_match_transformers_for_every_pool_choice_and_layer() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    for pool in ["padded-mean", "mean", "cls"] {
        for choices in ["first", "all"] {
            for layer in g["layers"].as_array().unwrap() {
                let layer = layer.to_string();
                let out = dir.path().join(format!("{pool}-{choices}-{layer}.safetensors"));
                // three questions per forward: padding differs within a batch and across them
                let o = out.to_str().unwrap();
                ok(&features(&[
                    "--pool",
                    pool,
                    "--choices",
                    choices,
                    "--layer",
                    &layer,
                    "--batch-size",
                    "3",
                    "--out",
                    o,
                ]));
                let f = FeatureFile::read(&out).unwrap();
                let questions = g["questions"].as_array().unwrap();
                assert_eq!((f.questions, f.hidden), (questions.len(), 32));
                assert_eq!(f.choices, if choices == "first" { 1 } else { 5 });
                assert_eq!(f.options, 5);
                for (i, q) in questions.iter().enumerate() {
                    assert_eq!(f.labels[i] as u64, q["label"].as_u64().unwrap());
                    let want = q["features"][format!("{layer}/{pool}")].as_array().unwrap();
                    for (k, row) in want.iter().take(f.choices).enumerate() {
                        let got = &f.features[(i * f.choices + k) * 32..][..32];
                        for (a, b) in got.iter().zip(row.as_array().unwrap()) {
                            let b = b.as_f64().unwrap() as f32;
                            assert!(
                                (a - b).abs() < 1e-5,
                                "{pool} {choices} layer {layer} question {i} choice {k}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn features_refuse_bad_input_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.safetensors");
    let out_s = out.to_str().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\", \"label\": 0}\n{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\"}\n").unwrap();
    let bad_s = bad.to_str().unwrap();
    fails(
        &qa_features(&["--model", MODEL, "--data", bad_s, "--out", out_s]),
        &["bad.json:2", "no \"label\""],
    );
    fails(
        &qa_features(&["--model", "no/such/model", "--data", DATA, "--out", out_s]),
        &["no/such/model"],
    );
    fails(
        &qa_features(&["--model", MODEL, "--data", "no/such.json", "--out", out_s]),
        &["no/such.json"],
    );
    fails(&features(&["--layer", "3", "--out", out_s]), &["--layer 3", "-3..=2"]);
    assert!(!out.exists(), "a refused run wrote its output");
    ok(&features(&["--out", out_s]));
    let before = std::fs::read(&out).unwrap();
    fails(&features(&["--layer", "0", "--out", out_s]), &["exists", "--overwrite"]);
    assert_eq!(std::fs::read(&out).unwrap(), before, "an existing file was replaced");
    ok(&features(&["--layer", "0", "--out", out_s, "--overwrite"]));
    assert_ne!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn feature_files_are_checked_when_read() {
    use tsumugi::train::checkpoint::write_tensors;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.safetensors");
    let write = |shape: Vec<usize>, values: &[f32], labels: Vec<i64>| {
        let (n, meta) = (labels.len(), serde_json::json!({ "options": 5 }));
        write_tensors(
            &p,
            &[("features".into(), shape, values)],
            &[("labels".into(), vec![n], labels)],
            Some(&meta),
        )
        .unwrap();
    };
    let read = |p: &Path| format!("{:#}", FeatureFile::read(p).unwrap_err());
    write(vec![2, 1, 2], &[0.0, 1.0, f32::NAN, 0.0], vec![0, 1]);
    assert!(read(&p).contains("not finite"), "{}", read(&p));
    write(vec![2, 1, 2], &[0.0; 4], vec![0, 5]);
    assert!(read(&p).contains("label 5 of question 1"), "{}", read(&p));
    write(vec![2, 2, 1], &[0.0; 4], vec![0, 1]);
    assert!(read(&p).contains("2 feature rows per question for 5"), "{}", read(&p));
    write(vec![4], &[0.0; 4], vec![0, 1, 2, 3]);
    assert!(
        read(&p).contains("expected [questions, choices, hidden]"),
        "{}",
        read(&p)
    );
    std::fs::write(&p, b"not safetensors").unwrap();
    assert!(read(&p).contains("f.safetensors"), "{}", read(&p));
}
