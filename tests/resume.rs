//! A run killed mid-epoch and resumed ends with exactly the metrics of an uninterrupted run, and
//! the same seed gives the same metrics twice.

mod common;
use common::*;

fn train_args<'a>(p: &'a str, v: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "classify",
        "train",
        "--data",
        p,
        "--vectors",
        v,
        "--epochs",
        "6",
        "--batch-size",
        "4",
        "--early-stop",
        "never",
        "--schedule",
        "plateau",
        "--patience",
        "1",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn resume_after_kill_matches_uninterrupted_run() {
    resumed_run_matches(&[]);
}

/// The same with SGD's momentum buffers (Nesterov, weight decay) in the checkpoint.
#[test]
fn resume_keeps_sgd_momentum() {
    resumed_run_matches(&[
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--nesterov",
        "--weight-decay",
        "0.001",
    ]);
}

fn resumed_run_matches(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let v = write_vectors(dir.path());
    let (p, v) = (p.to_str().unwrap().to_string(), v.to_str().unwrap().to_string());
    let straight = dir.path().join("straight");
    ok(&train_args(&p, &v, straight.to_str().unwrap(), extra));
    let again = dir.path().join("again");
    ok(&train_args(&p, &v, again.to_str().unwrap(), extra));
    let metrics = |d: &std::path::Path| std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics(&straight), metrics(&again), "same seed, same metrics");
    assert_eq!(metrics(&straight).lines().count(), 6);

    let crashed = dir.path().join("crashed");
    let c = crashed.to_str().unwrap();
    let o = bin()
        .args(train_args(&p, &v, c, extra))
        .env("TSUMUGI_CRASH_IN_EPOCH", "4")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the crash hook aborts the process");
    assert_eq!(
        metrics(&crashed).lines().count(),
        3,
        "three epochs were finished before the crash"
    );
    assert!(!crashed.join("report.md").exists());
    // options typed again must match the run's: another --epochs is refused, naming it
    let o = bin()
        .args(["classify", "train", "--out", c, "--resume", "--epochs", "40"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("epochs (6 → 40)"), "{err}");
    ok(&["classify", "train", "--out", c, "--resume", "--epochs", "6"]);
    assert_eq!(metrics(&crashed), metrics(&straight));
    assert_eq!(
        std::fs::read(crashed.join("checkpoints/last.safetensors")).unwrap(),
        std::fs::read(straight.join("checkpoints/last.safetensors")).unwrap()
    );
}

#[test]
fn non_finite_loss_stops_cleanly_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let v = write_vectors(dir.path());
    // features of size ~1e19 and a step of 1e30 overflow f32 on the first update
    let text = std::fs::read_to_string(&v).unwrap();
    let mut lines = text.lines();
    let mut scaled = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let mut parts = line.split(' ');
        let word = parts.next().unwrap();
        let values: Vec<String> = parts.map(|x| format!("{}", x.parse::<f32>().unwrap() * 1e19)).collect();
        scaled.push_str(&format!("{word} {}\n", values.join(" ")));
    }
    std::fs::write(&v, scaled).unwrap();
    let out = dir.path().join("nan");
    let args = [
        "classify",
        "train",
        "--data",
        p.to_str().unwrap(),
        "--vectors",
        v.to_str().unwrap(),
        "--model",
        "slp",
        "--optimizer",
        "sgd",
        "--momentum",
        "0",
        "--lr",
        "1e30",
        "--batch-size",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    fails(
        &args,
        &[
            "the loss became",
            "epoch 1, step",
            "lower --lr",
            "(lr 1e30)",
            "no checkpoint was written yet",
        ],
    );
    assert!(!out.join("report.md").exists(), "no report for a failed run");
}

/// A run trained with relative `--data` and `--vectors` records them absolute, so `eval`,
/// `predict` and `--resume` work from any folder.
#[test]
fn a_run_finds_its_relative_inputs_from_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_prepared(dir.path());
    write_vectors(dir.path());
    let trained = bin()
        .current_dir(dir.path())
        .args(train_args("prepared", "vectors.txt", "run", &[]))
        .output()
        .unwrap();
    assert!(trained.status.success(), "{}", stderr(&trained));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/config.json")).unwrap()).unwrap();
    let data = std::path::Path::new(config["data"].as_str().unwrap());
    assert!(data.is_absolute() && data.ends_with("prepared"), "{config}");
    let elsewhere = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let in_elsewhere = |args: &[&str]| bin().current_dir(elsewhere.path()).args(args).output().unwrap();
    let eval = in_elsewhere(&["classify", "eval", "--run", run_dir.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let predict = in_elsewhere(&[
        "classify",
        "predict",
        "--run",
        run_dir.to_str().unwrap(),
        "stocks bank profit",
    ]);
    assert!(predict.status.success(), "{}", stderr(&predict));
    let resumed = in_elsewhere(&["classify", "train", "--resume", "--out", run_dir.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}
