//! `tsumugi finetune`: pre-training, fine-tuning from it, the comparison, exact resume and bad
//! input, on a small made-up sentiment file (one telling word per text).

mod common;

use common::{bin, fails, no_gpu_message, ok, same_run, stderr, stdout};
use std::path::{Path, PathBuf};

fn write_texts(dir: &Path, n: usize) -> PathBuf {
    let (pos, neg) = (["good", "great", "lovely"], ["bad", "awful", "poor"]);
    let filler = ["the", "movie", "was", "a", "plot", "and", "very", "film"];
    let mut out = String::new();
    for i in 0..n {
        let positive = i % 2 == 0;
        let mut words: Vec<&str> = (0..3 + i % 7).map(|k| filler[(i * 7 + k * 3) % filler.len()]).collect();
        let word = if positive { pos[i % 3] } else { neg[i % 3] };
        words.insert(i % words.len(), word);
        out.push_str(&format!(
            "{}\t{}.\n",
            if positive { "pos" } else { "neg" },
            words.join(" ")
        ));
    }
    let path = dir.join("texts.tsv");
    std::fs::write(&path, out).unwrap();
    path
}

const SMALL: [&str; 8] = ["--embed", "8", "--hidden", "12", "--batch-size", "8", "--lr", "0.01"];

fn with(args: &[&str]) -> Vec<String> {
    args.iter().chain(SMALL.iter()).map(|s| s.to_string()).collect()
}

fn ok_owned(args: &[String]) -> String {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs)
}

#[test]
fn pretrain_then_finetune_from_it_learns_the_texts() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_texts(dir.path(), 300);
    let lm = dir.path().join("lm");
    let out = ok_owned(&with(&[
        "finetune",
        "pretrain",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--out",
        lm.to_str().unwrap(),
    ]));
    assert!(out.contains("valid perplexity"), "{out}");
    for f in [
        "config.json",
        "vocab.json",
        "metrics.jsonl",
        "checkpoints/best.safetensors",
    ] {
        assert!(lm.join(f).exists(), "{f}");
    }
    // a classifier from the language model, for `epochs`, with `flag`
    let from_lm = |epochs: &str, flag: &str, out: &Path| {
        ok_owned(&with(&[
            "finetune",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--from",
            lm.to_str().unwrap(),
            "--epochs",
            epochs,
            flag,
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    let run = dir.path().join("clf");
    let json = from_lm("6", "--json", &run);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.8, "{v}");
    for f in ["report.md", "curves.png", "labels.json", "checkpoints/best.safetensors"] {
        assert!(run.join(f).exists(), "{f}");
    }
    // the run took the LM's sizes and vocabulary
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["hidden"], 12);
    assert_eq!(
        std::fs::read(lm.join("vocab.json")).unwrap(),
        std::fs::read(run.join("vocab.json")).unwrap()
    );
    // with gradual unfreezing, epoch 1 trains the head alone: the embedding and LSTM saved
    // after it are the language model's, bit for bit
    let frozen = dir.path().join("frozen");
    from_lm("1", "--gradual-unfreeze", &frozen);
    let read = |p: PathBuf| tsumugi::train::checkpoint::TensorFile::read(&p).unwrap();
    let (lm_file, clf_file) = (
        read(lm.join("checkpoints/best.safetensors")),
        read(frozen.join("checkpoints/last.safetensors")),
    );
    for name in [
        "encoder.weight",
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
    ] {
        assert_eq!(lm_file.f32[name], clf_file.f32[name], "{name}");
    }
    assert!(!lm_file.f32.contains_key("fc.weight") && clf_file.f32.contains_key("fc.weight"));
    // a language model of other data, or of `lm train`, does not start this classifier
    let other = dir.path().join("other.tsv");
    std::fs::copy(&data, &other).unwrap();
    fails(
        &[
            "finetune",
            "train",
            "--data",
            other.to_str().unwrap(),
            "--from",
            lm.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        &["pre-trained on", "texts.tsv"],
    );
    let lm_train = dir.path().join("lm-train");
    std::fs::create_dir_all(&lm_train).unwrap();
    std::fs::write(lm_train.join("corpus.json"), "[]").unwrap();
    fails(
        &[
            "finetune",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--from",
            lm_train.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        &["an `lm train` run"],
    );
    // a second run into the same folder is refused
    fails(
        &[
            "finetune",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ],
        &["already there", "--resume", "--overwrite"],
    );
}

/// Killed in epoch 3 and resumed with nothing but --out: the same files as an uninterrupted
/// run, the AdamW state included.
#[test]
fn a_killed_run_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_texts(dir.path(), 120);
    let args = |out: &Path| {
        with(&[
            "finetune",
            "train",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "4",
            "--pool",
            "concat",
            "--schedule",
            "stlr",
            "--discriminative",
            "2.6",
            "--gradual-unfreeze",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let whole = dir.path().join("whole");
    ok_owned(&args(&whole));
    let cut = dir.path().join("cut");
    let crashed = bin()
        .args(args(&cut))
        .env("TSUMUGI_CRASH_IN_EPOCH", "3")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    let resumed = bin()
        .args(["finetune", "train", "--out", cut.to_str().unwrap(), "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("resuming after epoch 2"),
        "{}",
        stdout(&resumed)
    );
    same_run(&whole, &cut);
}

#[test]
fn compare_prints_rows_per_size_and_arm() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_texts(dir.path(), 160);
    let out = dir.path().join("cmp");
    // the same comparison both times; `last` is --json, then --resume
    let compare = |last: &str| {
        ok_owned(&with(&[
            "finetune",
            "compare",
            "--data",
            data.to_str().unwrap(),
            "--sizes",
            "40,all",
            "--seeds",
            "2",
            "--arms",
            "scratch,pretrained,ulmfit",
            "--epochs",
            "2",
            "--pretrain-epochs",
            "1",
            last,
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    let json = compare("--json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["train_size"], 40);
    assert_eq!(rows[0]["arm"], "scratch");
    assert_eq!(rows[5]["arm"], "ulmfit");
    assert!(rows[5]["train_size"].as_u64().unwrap() > 100, "all is resolved: {v}");
    assert!(rows
        .iter()
        .all(|r| r["seeds"] == 2 && r["accuracy_sd"].as_f64().unwrap() >= 0.0));
    // the last-epoch reading: each seed's run trained both epochs, so it is epoch 2's
    let run = out.join("runs/40-scratch-seed0/result.json");
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
    let last = run["history"][1]["test_accuracy"].as_f64().unwrap();
    let other = out.join("runs/40-scratch-seed1/result.json");
    let other: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(other).unwrap()).unwrap();
    let mean = (last + other["history"][1]["test_accuracy"].as_f64().unwrap()) / 2.0;
    assert!(
        (rows[0]["last_epoch_accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{v}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## test accuracy at the best-valid epoch"), "{report}");
    assert!(
        report.contains("## test accuracy at the last epoch trained"),
        "{report}"
    );
    for f in [
        "report.md",
        "accuracy.png",
        "valid_curves.svg",
        "pretrain/checkpoints/best.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // every run is reused on --resume: nothing trains again
    let again = compare("--resume");
    assert!(!again.contains("epoch 1:"), "{again}");
    assert!(again.contains("| 40 |"), "{again}");
    assert!(again.contains("at the last epoch trained"), "{again}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_texts(dir.path(), 60);
    let d = data.to_str().unwrap();
    let out = dir.path().join("r");
    let o = out.to_str().unwrap();
    fails(
        &["finetune", "train", "--data", d, "--train-size", "500", "--out", o],
        &["--train-size 500 is larger than the"],
    );
    fails(
        &["finetune", "train", "--data", d, "--max-len", "0", "--out", o],
        &["--max-len 0"],
    );
    fails(
        &["finetune", "pretrain", "--data", d, "--max-len", "1", "--out", o],
        &["--max-len 1"],
    );
    let one = dir.path().join("one.tsv");
    std::fs::write(&one, "pos\tgood film\npos\tgreat plot\n").unwrap();
    fails(
        &["finetune", "train", "--data", one.to_str().unwrap(), "--out", o],
        &["one.tsv", "at least two classes"],
    );
    let empty = dir.path().join("empty.tsv");
    std::fs::write(&empty, "pos\t!!!\nneg\t...\n").unwrap();
    fails(
        &["finetune", "train", "--data", empty.to_str().unwrap(), "--out", o],
        &["no word"],
    );
    fails(
        &[
            "finetune",
            "train",
            "--data",
            d,
            "--from",
            dir.path().to_str().unwrap(),
            "--out",
            o,
        ],
        &["not a `finetune pretrain` run"],
    );
    fails(
        &["finetune", "compare", "--data", d, "--sizes", "ten", "--out", o],
        &["--sizes: `ten`"],
    );
    if let Some(needle) = no_gpu_message() {
        for command in ["pretrain", "train", "compare"] {
            fails(
                &["finetune", command, "--data", d, "--device", "cuda", "--out", o],
                &[needle],
            );
        }
    }
    assert!(!out.exists(), "a refused run writes nothing");
}

/// ULMFiT's three stages: a language model on general-domain text with the task's vocabulary,
/// a second run continuing from it on the task's texts, then the classifier from that.
#[test]
fn a_general_corpus_then_the_task_then_the_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_texts(dir.path(), 200);
    let corpus = dir.path().join("general.txt");
    let lines: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "the film and the plot was {} very",
                ["a", "movie", "good", "bad"][i % 4]
            )
        })
        .collect();
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    let (general, task, clf) = (
        dir.path().join("lm-general"),
        dir.path().join("lm-task"),
        dir.path().join("clf"),
    );
    let stage = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "finetune",
            "pretrain",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        ok_owned(&with(&args))
    };
    let first = stage(&["--corpus", corpus.to_str().unwrap()], &general);
    assert!(first.contains("general.txt"), "{first}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(general.join("config.json")).unwrap()).unwrap();
    assert!(config["corpus"].as_str().unwrap().ends_with("general.txt"), "{config}");
    assert_eq!(
        std::fs::read(general.join("vocab.json")).unwrap(),
        {
            let own = dir.path().join("lm-own");
            stage(&[], &own);
            std::fs::read(own.join("vocab.json")).unwrap()
        },
        "the vocabulary is the task's"
    );
    let second = stage(&["--from", general.to_str().unwrap()], &task);
    assert!(second.contains("starting from"), "{second}");
    ok_owned(&with(&[
        "finetune",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--from",
        task.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        clf.to_str().unwrap(),
    ]));

    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = write_texts(&other_dir, 50);
    fails(
        &[
            "finetune",
            "pretrain",
            "--data",
            other.to_str().unwrap(),
            "--from",
            general.to_str().unwrap(),
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        &["lm-general", "its vocabulary is that of"],
    );
    fails(
        &[
            "finetune",
            "pretrain",
            "--data",
            data.to_str().unwrap(),
            "--corpus",
            "no-such-corpus",
            "--out",
            dir.path().join("y").to_str().unwrap(),
        ],
        &["--corpus no-such-corpus", "not `ptb`"],
    );
}
