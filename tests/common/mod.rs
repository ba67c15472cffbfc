//! Fixtures the tests write themselves: made-up news headlines in newsCorpora.csv format and a
//! tiny text vectors file whose words carry their topic, so a model can learn from them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TOPICS: [(&str, [&str; 6]); 4] = [
    ("b", ["stocks", "bank", "profit", "shares", "market", "fed"]),
    ("t", ["google", "apple", "software", "phone", "internet", "chip"]),
    ("e", ["film", "singer", "album", "movie", "star", "concert"]),
    ("m", ["cancer", "ebola", "virus", "health", "drug", "study"]),
];
pub const FILLER: [&str; 4] = ["the", "new", "says", "after"];

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsumugi"));
    // never touch the user's cache from tests
    c.env("TSUMUGI_HOME", std::env::temp_dir().join("tsumugi-test-home-unused"));
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("tsumugi runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "tsumugi {args:?} failed:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs and expects failure with a message containing every `needles`; never a panic.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    let o = run(args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "tsumugi {args:?} should fail; stdout:\n{}",
        stdout(&o)
    );
    assert_eq!(o.status.code(), Some(1), "exit code for {args:?}: {err}");
    assert!(!err.contains("panicked"), "panic in {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "error for {args:?} lacks `{n}`:\n{err}");
    }
    err
}

/// Two runs of one command, one killed and resumed: the same `metrics.jsonl` and checkpoints,
/// byte for byte.
pub fn same_run(whole: &Path, cut: &Path) {
    for f in [
        "metrics.jsonl",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
    ] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(cut.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// A headline of `topic` built deterministically from index `i`.
pub fn headline(topic: usize, i: usize) -> String {
    let words = &TOPICS[topic].1;
    format!(
        "{} {} {} {}",
        words[i % 6],
        FILLER[i % 4],
        words[(i / 6 + 1) % 6],
        words[(i + 3) % 6]
    )
}

/// newsCorpora.csv with 40 rows per category from the five publishers, some rows from other
/// publishers, stray quotes in titles, and one malformed row (line `bad_line`, returned).
pub fn write_news_corpus(dir: &Path) -> (PathBuf, usize) {
    let publishers = [
        "Reuters",
        "Huffington Post",
        "Businessweek",
        "Contactmusic.com",
        "Daily Mail",
    ];
    let mut lines = Vec::new();
    let mut id = 1;
    for i in 0..40 {
        for (t, (cat, _)) in TOPICS.iter().enumerate() {
            let mut title = headline(t, i);
            if i % 7 == 0 {
                title = format!("\"{title}\" update");
            }
            if i % 11 == 0 {
                title.push_str(" \"quoted");
            }
            let publisher = if i % 10 == 9 { "Some Blog" } else { publishers[i % 5] };
            lines.push(format!(
                "{id}\t{title}\thttp://example.com/{id}\t{publisher}\t{cat}\tstory{id}\texample.com\t1394470370698"
            ));
            id += 1;
        }
    }
    lines.insert(
        17,
        "999\tbroken row with too few columns\thttp://example.com".to_string(),
    );
    let path = dir.join("newsCorpora.csv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, 18)
}

/// Text vectors (word2vec text format with header): topic words point along their topic's
/// axis plus a little noise, filler words are small and random.
pub fn write_vectors(dir: &Path) -> PathBuf {
    let dim = 8;
    let mut rows = Vec::new();
    let mut k = 0u32;
    let mut noise = || {
        k = k.wrapping_mul(1103515245).wrapping_add(12345);
        ((k >> 16) % 1000) as f32 / 5000.0 - 0.1
    };
    for (t, (_, words)) in TOPICS.iter().enumerate() {
        for w in words {
            let v: Vec<String> = (0..dim)
                .map(|d| format!("{:.4}", if d == t * 2 { 1.0 } else { 0.0 } + noise()))
                .collect();
            rows.push(format!("{w} {}", v.join(" ")));
        }
    }
    for w in FILLER {
        let v: Vec<String> = (0..dim).map(|_| format!("{:.4}", noise())).collect();
        rows.push(format!("{w} {}", v.join(" ")));
    }
    let path = dir.join("vectors.txt");
    std::fs::write(&path, format!("{} {dim}\n{}\n", rows.len(), rows.join("\n"))).unwrap();
    path
}

/// A prepared data directory (train/valid/test.tsv) written directly.
pub fn write_prepared(dir: &Path) -> PathBuf {
    let out = dir.join("prepared");
    std::fs::create_dir_all(&out).unwrap();
    for (split, range) in [("train", 0..48), ("valid", 48..56), ("test", 56..64)] {
        let mut text = String::new();
        for i in range {
            for (t, (cat, _)) in TOPICS.iter().enumerate() {
                text.push_str(&format!("{cat}\t{}\n", headline(t, i)));
            }
        }
        std::fs::write(out.join(format!("{split}.tsv")), text).unwrap();
    }
    out
}

/// What `--device cuda` must say where it cannot run: without the `cuda` feature it names the
/// build script, with it (and no usable GPU) it says CUDA cannot be used. `None` where a GPU is
/// at hand, so the refusal is not tested there.
pub fn no_gpu_message() -> Option<&'static str> {
    if tsumugi::compute::devices::cuda_devices().is_ok_and(|d| !d.is_empty()) {
        None
    } else if tsumugi::compute::devices::BUILT_WITH_CUDA {
        Some("cannot use CUDA")
    } else {
        Some("tools/cuda-build.sh")
    }
}
