//! `tsumugi qa`: features against transformers 4.57 on the tiny mLUKE multiple-choice fixture
//! (`tools/gen_qa_golden.py`), and bad input.

mod common;

use common::{bin, fails, no_gpu_message, ok, same_run, stderr};
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
    if let Some(why) = no_gpu_message() {
        fails(
            &features(&["--device", "cuda", "--out", out_s]),
            &["--device cuda", why],
        );
        fails(
            &["qa", "eval", "--model", MODEL, "--data", DATA, "--device", "cuda"],
            &["--device cuda", why],
        );
    }
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

/// A JCommonsenseQA-format file whose right answer is always a word about books, at a
/// position that varies: the label depends on the choices' features.
fn write_questions(path: &Path, n: usize, salt: usize) {
    let wrong = [
        "川",
        "犬",
        "大阪",
        "京都",
        "花子",
        "首都",
        "東京",
        "太郎",
        "ルーク",
        "言語",
        "モデル",
        "大学",
    ];
    let right = ["図書館", "本棚", "本"];
    let questions = ["本を置く場所は？", "どこですか？", "何ですか？", "太郎はどこ？"];
    let mut out = String::new();
    for i in 0..n {
        let k = i * 7 + salt;
        let label = (k * 3 + k / 5) % 5;
        let mut choices: Vec<&str> = (0..4).map(|j| wrong[(k + j * 5) % wrong.len()]).collect();
        choices.insert(label, right[k % 3]);
        let mut row = serde_json::json!({ "q_id": i, "question": questions[k % 4], "label": label });
        for (j, c) in choices.iter().enumerate() {
            row[format!("choice{j}")] = (*c).into();
        }
        out += &format!("{row}\n");
    }
    std::fs::write(path, out).unwrap();
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap()
}

/// LUKE features of every choice → the scorer head learns well above chance (0.2), and the
/// article's metric differs from accuracy.
#[test]
fn the_scorer_learns_from_luke_features_and_the_articles_metric_differs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    for (split, n, salt) in [("train", 200, 1), ("valid", 60, 2)] {
        write_questions(Path::new(&p(&format!("{split}.json"))), n, salt);
        let data = p(&format!("{split}.json"));
        let out = p(&format!("{split}.safetensors"));
        ok(&qa_features(&[
            "--model",
            MODEL,
            "--data",
            &data,
            "--choices",
            "all",
            "--layer",
            "-1",
            "--pool",
            "mean",
            "--out",
            &out,
        ]));
    }
    let (train, valid, run) = (p("train.safetensors"), p("valid.safetensors"), p("run"));
    let r = json(&ok(&[
        "qa", "train", "--train", &train, "--valid", &valid, "--head", "scorer", "--epochs", "25", "--lr", "0.01",
        "--out", &run, "--json",
    ]));
    let (acc, article) = (
        r["valid_accuracy"].as_f64().unwrap(),
        r["valid_article_metric"].as_f64().unwrap(),
    );
    assert!(acc > 0.45, "valid accuracy {acc}");
    assert!(article > acc, "the article's metric {article} against accuracy {acc}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "report.md",
        "curves.png",
        "curves.svg",
        "checkpoints/best.safetensors",
    ] {
        assert!(dir.path().join("run").join(f).exists(), "{f}");
    }
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(
        report.contains("predicted - label < 1") && report.contains(&format!("{acc:.4}")),
        "{report}"
    );
    // the checkpoint alone, the head, and both: the head's features are made as in training
    let e = json(&ok(&[
        "qa",
        "eval",
        "--model",
        MODEL,
        "--data",
        &p("valid.json"),
        "--head",
        &run,
        "--json",
    ]));
    assert_eq!(e["questions"], 60);
    let head = e["head"]["accuracy"].as_f64().unwrap();
    assert!(
        (head - acc).abs() < 1e-9,
        "the head scores {head} in eval and {acc} in training"
    );
    assert!(e["ensemble"]["accuracy"].as_f64().is_some() && e["model"]["article_metric"].as_f64().is_some());

    // the scorer needs every choice's features; the first-choice ones are refused by name
    let first = p("first.safetensors");
    ok(&qa_features(&[
        "--model",
        MODEL,
        "--data",
        &p("train.json"),
        "--out",
        &first,
    ]));
    fails(
        &[
            "qa",
            "train",
            "--train",
            &first,
            "--valid",
            &first,
            "--head",
            "scorer",
            "--out",
            &p("bad"),
        ],
        &["--choices all"],
    );
    fails(
        &[
            "qa",
            "train",
            "--train",
            &train,
            "--valid",
            &first,
            "--head",
            "mlp",
            "--out",
            &p("bad"),
        ],
        &["first.safetensors", "same `qa features` options"],
    );
    fails(
        &["qa", "train", "--train", &train, "--valid", &valid, "--out", &p("bad")],
        &["--head"],
    );
    // a device the build cannot use is refused before the run directory is made
    if let Some(needle) = no_gpu_message() {
        fails(
            &[
                "qa",
                "train",
                "--train",
                &train,
                "--valid",
                &valid,
                "--head",
                "mlp",
                "--device",
                "cuda",
                "--out",
                &p("bad"),
            ],
            &[needle],
        );
    }
    fails(
        &[
            "qa", "train", "--train", &train, "--valid", &valid, "--head", "mlp", "--out", &run,
        ],
        &["--overwrite"],
    );
    assert!(!dir.path().join("bad").exists(), "a refused run left a directory");
}

/// Features `[n, 1, 96]` (an 8×12 image) with a bright band at column pair `2·label`, over a
/// deterministic noise.
fn write_images(path: &Path, n: usize, salt: u64) {
    use tsumugi::train::checkpoint::write_tensors;
    let mut state = salt.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i * 7 + salt as usize) % 5;
        for r in 0..8 {
            for c in 0..12 {
                let band = if c / 2 == label && r > 1 { 1.5 } else { 0.0 };
                x.push(band + noise());
            }
        }
        labels.push(label as i64);
    }
    let meta = serde_json::json!({ "options": 5 });
    write_tensors(
        path,
        &[("features".into(), vec![n, 1, 96], &x)],
        &[("labels".into(), vec![n], labels)],
        Some(&meta),
    )
    .unwrap();
}

/// The article's CNN (shrunk to an 8×12 image) learns the bands; `--seeds 3` reports mean ±
/// sd; a run killed mid-epoch and resumed matches an uninterrupted one byte for byte.
#[test]
fn the_cnn_learns_and_seeds_report_mean_and_sd_and_resume_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_images(Path::new(&p("train.st")), 120, 3);
    write_images(Path::new(&p("valid.st")), 40, 4);
    let (train, valid) = (p("train.st"), p("valid.st"));
    let cnn = |out: &str, extra: &[&str]| -> Vec<String> {
        let base = [
            "qa",
            "train",
            "--train",
            &train,
            "--valid",
            &valid,
            "--head",
            "cnn",
            "--image",
            "8x12",
            "--channels",
            "4,8",
        ];
        let more = ["--width", "16", "--batch-size", "20", "--lr", "0.01", "--out", out];
        base.iter().chain(&more).chain(extra).map(|s| s.to_string()).collect()
    };
    let run_ok = |v: Vec<String>| ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let summary = json(&run_ok(cnn(&p("seeds"), &["--epochs", "6", "--seeds", "3", "--json"])));
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let mean = summary["valid_accuracy"]["mean"].as_f64().unwrap();
    assert!(mean > 0.6, "mean valid accuracy {mean} (chance 0.2)");
    // the spread is the sample sd of the runs, which are different runs (their losses differ)
    let accs: Vec<f64> = runs.iter().map(|r| r["valid_accuracy"].as_f64().unwrap()).collect();
    let m = accs.iter().sum::<f64>() / 3.0;
    let sd = (accs.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((summary["valid_accuracy"]["sd"].as_f64().unwrap() - sd).abs() < 1e-12);
    assert!((mean - m).abs() < 1e-12);
    let losses: Vec<f64> = runs.iter().map(|r| r["valid_loss"].as_f64().unwrap()).collect();
    assert!(losses[0] != losses[1] && losses[1] != losses[2], "{losses:?}");
    for s in 0..3 {
        assert!(dir
            .path()
            .join(format!("seeds/seed-{s}/checkpoints/best.safetensors"))
            .exists());
    }
    assert!(std::fs::read_to_string(dir.path().join("seeds/report.md"))
        .unwrap()
        .contains("mean ± sd"));

    run_ok(cnn(&p("whole"), &["--epochs", "3"]));
    let args = cnn(&p("cut"), &["--epochs", "3"]);
    let crashed = bin().args(&args).env("TSUMUGI_CRASH_IN_EPOCH", "2").output().unwrap();
    assert!(!crashed.status.success());
    let resumed = bin()
        .args(["qa", "train", "--out", &p("cut"), "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    same_run(&dir.path().join("whole"), &dir.path().join("cut"));
}

/// The checkpoint's own accuracy is what transformers' logits give (the golden file's).
#[test]
fn eval_scores_the_checkpoint_as_transformers_does() {
    let g = golden();
    let questions = g["questions"].as_array().unwrap();
    let right = questions
        .iter()
        .filter(|q| {
            let logits: Vec<f64> = q["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
            best as u64 == q["label"].as_u64().unwrap()
        })
        .count();
    let e = json(&ok(&["qa", "eval", "--model", MODEL, "--data", DATA, "--json"]));
    assert_eq!(
        e["model"]["accuracy"].as_f64().unwrap(),
        right as f64 / questions.len() as f64
    );
    assert!(e["head"].is_null());
    let out = ok(&["qa", "eval", "--model", MODEL, "--data", DATA]);
    assert!(out.contains("4 questions") && out.contains("article's metric"), "{out}");
    fails(
        &[
            "qa",
            "eval",
            "--model",
            "tests/fixtures/luke/sentencepiece_pair_safetensors",
            "--data",
            DATA,
        ],
        &["not a multiple-choice model"],
    );
    let dir = tempfile::tempdir().unwrap();
    fails(
        &[
            "qa",
            "eval",
            "--model",
            MODEL,
            "--data",
            DATA,
            "--head",
            dir.path().to_str().unwrap(),
        ],
        &["not a `qa train` run"],
    );
}

/// A run made with relative paths finds its features from another directory (`qa eval --head`
/// and `--resume` read them from its config.json).
#[test]
fn a_run_keeps_its_feature_files_by_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    write_questions(&dir.path().join("train.json"), 20, 1);
    let data = dir.path().join("train.json");
    for name in ["train.safetensors", "valid.safetensors"] {
        let out = dir.path().join(name);
        ok(&qa_features(&[
            "--model",
            MODEL,
            "--data",
            data.to_str().unwrap(),
            "--choices",
            "all",
            "--out",
            out.to_str().unwrap(),
        ]));
    }
    let trained = bin()
        .current_dir(dir.path())
        .args([
            "qa",
            "train",
            "--train",
            "train.safetensors",
            "--valid",
            "valid.safetensors",
            "--head",
            "scorer",
            "--epochs",
            "1",
            "--out",
            "run",
        ])
        .output()
        .unwrap();
    assert!(trained.status.success(), "{}", stderr(&trained));
    let config = std::fs::read_to_string(dir.path().join("run/config.json")).unwrap();
    assert!(
        config.contains(
            &std::fs::canonicalize(dir.path())
                .unwrap()
                .join("train.safetensors")
                .display()
                .to_string()
        ),
        "{config}"
    );
    let run = dir.path().join("run");
    ok(&[
        "qa",
        "eval",
        "--model",
        MODEL,
        "--data",
        data.to_str().unwrap(),
        "--head",
        run.to_str().unwrap(),
    ]);
}

/// `--preset article` sets the article's recipe; options typed beside it win.
#[test]
fn the_article_preset_sets_its_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_images(Path::new(&p("train.st")), 30, 3);
    write_images(Path::new(&p("valid.st")), 10, 4);
    let (train, valid) = (p("train.st"), p("valid.st"));
    let common = [
        "qa", "train", "--train", &train, "--valid", &valid, "--preset", "article",
    ];
    let shrink = ["--image", "8x12", "--channels", "4,8", "--epochs", "1"];
    let mut args: Vec<&str> = common.iter().chain(&shrink).copied().collect();
    let out = p("article");
    args.extend(["--out", &out]);
    ok(&args);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("article/config.json")).unwrap()).unwrap();
    assert_eq!(config["head"], "cnn");
    assert_eq!(config["batch_size"], 100);
    assert_eq!(config["shuffle"], false);
    assert!((config["lr"].as_f64().unwrap() - 0.1).abs() < 1e-6, "{config}");
    let out = p("typed");
    let mut args: Vec<&str> = common.iter().chain(&shrink).copied().collect();
    args.extend(["--lr", "0.01", "--batch-size", "8", "--out", &out]);
    ok(&args);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("typed/config.json")).unwrap()).unwrap();
    assert_eq!(config["batch_size"], 8);
    assert!((config["lr"].as_f64().unwrap() - 0.01).abs() < 1e-6, "{config}");
}
