//! The whole user path on a newsCorpora.csv fixture: prepare → features → train → predict → eval.

mod common;
use common::*;

#[test]
fn newscorpora_prepare_features_train_predict_eval() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, bad_line) = write_news_corpus(dir.path());
    let vectors = write_vectors(dir.path());
    let prepared = dir.path().join("prepared");
    let (c, p, v) = (
        corpus.to_str().unwrap(),
        prepared.to_str().unwrap(),
        vectors.to_str().unwrap(),
    );

    // The malformed row stops a strict prepare, naming file and line, and writes nothing.
    fails(
        &["news", "prepare", "--input", c, "--out", p],
        &[&format!("newsCorpora.csv:{bad_line}"), "8 tab-separated columns"],
    );
    assert!(!prepared.exists());

    let out = ok(&["news", "prepare", "--input", c, "--out", p, "--skip-bad-rows"]);
    // 160 rows, 16 of them from "Some Blog": 144 kept; the split is 80/10/10 per category.
    assert!(out.contains("160 rows read, 144 from the five publishers"), "{out}");
    assert!(out.contains("【学習データ】 (train)"), "{out}");
    // 36 kept rows per category: 29 train, then the rest halved: 4 valid, 3 test
    let lines = |s: &str| {
        std::fs::read_to_string(prepared.join(format!("{s}.tsv")))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!((lines("train"), lines("valid"), lines("test")), (116, 16, 12));
    let train = std::fs::read_to_string(prepared.join("train.tsv")).unwrap();
    assert!(train.contains("\"quoted"), "stray quotes are kept as published");

    let feats = dir.path().join("feats.safetensors");
    let out = ok(&[
        "classify",
        "features",
        "--data",
        p,
        "--vectors",
        v,
        "--out",
        feats.to_str().unwrap(),
    ]);
    assert!(out.contains("X_train: [") && out.contains(", 8]"), "{out}");
    let bytes = std::fs::read(&feats).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8_lossy(&bytes[8..8 + header_len]);
    for key in ["X_train", "y_train", "X_valid", "y_test"] {
        assert!(header.contains(key), "{key} in {header}");
    }

    let run_dir = dir.path().join("run");
    let r = run_dir.to_str().unwrap();
    let out = ok(&[
        "classify",
        "train",
        "--data",
        p,
        "--vectors",
        v,
        "--epochs",
        "30",
        "--batch-size",
        "8",
        "--out",
        r,
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(summary["test_accuracy"].as_f64().unwrap() >= 0.9, "{out}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "labels.json",
        "report.md",
        "curves.png",
        "curves.svg",
        "confusion.png",
        "confusion.svg",
        "checkpoints/best.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(run_dir.join(f).exists(), "{f} missing");
    }
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(report.contains("| test |") && report.contains("precision"), "{report}");
    // options read as flags and words, not as Rust structs
    assert!(
        report.contains("early stop patience 20") && report.contains("mlp --hidden"),
        "{report}"
    );
    assert!(!report.contains(" {") && !report.contains("Some("), "{report}");
    assert_eq!(
        std::fs::read_to_string(run_dir.join("labels.json")).unwrap().trim(),
        r#"["b","t","e","m"]"#.replace(',', ",\n  ").replace('[', "[\n  ").replace(']', "\n]")
    );

    let out = ok(&[
        "classify",
        "predict",
        "--run",
        r,
        "--json",
        "ebola virus study",
        "google phone chip",
    ]);
    let preds: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(preds[0]["label"], "m", "{out}");
    assert_eq!(preds[1]["label"], "t", "{out}");
    let probs: f64 = preds[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .sum();
    assert!((probs - 1.0).abs() < 1e-4);

    let out = ok(&["classify", "eval", "--run", r]);
    assert!(out.contains("test.tsv: accuracy"), "{out}");
    assert_eq!(ok(&["classify", "eval", "--run", r, "--device", "cpu"]), out);
    if let Some(why) = no_gpu_message() {
        fails(
            &["classify", "eval", "--run", r, "--device", "cuda"],
            &["--device cuda", why],
        );
        fails(
            &["classify", "predict", "--run", r, "--device", "cuda", "ebola virus"],
            &["--device cuda", why],
        );
    }

    // a text with no known word is marked, not an error for the whole batch (the run used
    // --empty zero); texts also come one per line from --input, JSON lines out
    let out = ok(&["classify", "predict", "--run", r, "--json", "ebola virus", "zzz qqq"]);
    let preds: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(preds[0]["no_known_word"], false, "{out}");
    assert_eq!(preds[1]["no_known_word"], true, "{out}");
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, "\u{feff}ebola virus study\n\ngoogle phone chip\r\nzzz qqq\n").unwrap();
    let out = ok(&[
        "classify",
        "predict",
        "--run",
        r,
        "--input",
        texts.to_str().unwrap(),
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        (&lines[0]["label"], &lines[1]["label"]),
        (&"m".into(), &"t".into()),
        "{out}"
    );
    assert_eq!(lines[2]["no_known_word"], true, "{out}");
    let mut child = bin()
        .args(["classify", "predict", "--run", r, "--input", "-", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"ebola virus study\n").unwrap();
    let piped = child.wait_with_output().unwrap();
    let line: serde_json::Value = serde_json::from_slice(&piped.stdout).unwrap();
    assert_eq!(line["label"], "m");
    let plain = ok(&["classify", "predict", "--run", r, "--input", texts.to_str().unwrap()]);
    assert!(plain.lines().nth(2).unwrap().ends_with("(no known word)"), "{plain}");

    // Bad input at predict and eval time.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    fails(
        &["classify", "predict", "--run", r, "--input", empty.to_str().unwrap()],
        &["empty.txt: no text to classify"],
    );
    fails(&["classify", "predict", "--run", r, "  "], &["text 1 is empty"]);
    let unknown = dir.path().join("unknown.tsv");
    std::fs::write(&unknown, "b\tstocks bank\nx\tfilm star\n").unwrap();
    fails(
        &["classify", "eval", "--run", r, "--data", unknown.to_str().unwrap()],
        &["unknown.tsv:2", "unknown label `x`"],
    );
    fails(
        &[
            "classify",
            "predict",
            "--run",
            dir.path().join("nope").to_str().unwrap(),
            "x",
        ],
        &["not a finished classify run"],
    );
}

#[test]
fn inspect_prints_problems_71_and_72() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let v = write_vectors(dir.path());
    let out = ok(&[
        "classify",
        "inspect",
        "--data",
        p.to_str().unwrap(),
        "--vectors",
        v.to_str().unwrap(),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["y_hat"].as_array().unwrap().len(), 4);
    let row_sum: f64 = r["y_hat_1"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((row_sum - 1.0).abs() < 1e-5);
    assert_eq!(r["grad_1"].as_array().unwrap().len(), 4, "[L, d] like PyTorch's weight");
    assert_eq!(r["grad_1"][0].as_array().unwrap().len(), 8);
    assert!(r["loss_1"].as_f64().unwrap() > 0.0);
}

#[test]
fn sweep_batch_writes_table_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let v = write_vectors(dir.path());
    let out_dir = dir.path().join("sweep");
    let out = ok(&[
        "classify",
        "sweep-batch",
        "--data",
        p.to_str().unwrap(),
        "--vectors",
        v.to_str().unwrap(),
        "--max-batch",
        "16",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.lines().filter(|l| l.starts_with("batch")).count(), 5, "{out}");
    for f in ["sweep.md", "sweep.json", "sweep.png", "sweep.svg"] {
        assert!(out_dir.join(f).exists(), "{f}");
    }
}

#[test]
fn separate_train_valid_test_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let v = write_vectors(dir.path());
    let file = |s: &str| p.join(s).to_str().unwrap().to_string();
    let out = dir.path().join("run");
    let o = ok(&[
        "classify",
        "train",
        "--data",
        &file("train.tsv"),
        "--valid",
        &file("valid.tsv"),
        "--test",
        &file("test.tsv"),
        "--vectors",
        v.to_str().unwrap(),
        "--epochs",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert!(summary["test_accuracy"].is_number(), "{o}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("valid.tsv"), "valid comes from the given file");
    // eval without --data scores the run's own --test file, as training did
    let e: serde_json::Value =
        serde_json::from_str(&ok(&["classify", "eval", "--run", out.to_str().unwrap(), "--json"])).unwrap();
    assert!(e["data"].as_str().unwrap().ends_with("test.tsv"), "{e}");
    assert_eq!(e["evaluation"]["accuracy"], summary["test_accuracy"], "{e}");
    // a run already in --out is refused, and even --overwrite leaves it alone until the
    // inputs are read: a missing --test file fails without touching the old run
    let config = std::fs::read(out.join("config.json")).unwrap();
    let (train, absent) = (file("train.tsv"), file("absent.tsv"));
    let again = [
        "classify",
        "train",
        "--data",
        &train,
        "--test",
        &absent,
        "--vectors",
        v.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    fails(&again, &["a run is already there", "--resume", "--overwrite"]);
    fails(&[&again[..], &["--overwrite"]].concat(), &["absent.tsv: no such file"]);
    assert_eq!(std::fs::read(out.join("config.json")).unwrap(), config);
    assert!(out.join("checkpoints/best.safetensors").exists());
}
