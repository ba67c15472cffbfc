//! Resolves `--data` into labelled train/valid/test examples: a dataset name (`r8`, `r52`,
//! `20ng`, fetched on first use), a prepared directory (`train.tsv`, `valid.tsv`, `test.tsv`,
//! optional `labels.json`), or a single `label<TAB>text` file. Without a valid split, a
//! stratified, seeded one is carved from train.

use crate::data::labeled::{self, Example};
use crate::data::split;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub test: Option<Vec<Example>>,
    /// Class names; index = label id.
    pub labels: Vec<String>,
    /// How valid was obtained, for the report.
    pub valid_origin: String,
    /// The file each split came from (valid's is train's when it was carved from train).
    pub train_file: PathBuf,
    pub valid_file: PathBuf,
    pub test_file: Option<PathBuf>,
}

/// Paths of train / valid / test files behind a `--data` value (valid and test may be absent).
pub fn locate(data: &str) -> Result<(PathBuf, Option<PathBuf>, Option<PathBuf>)> {
    let path = Path::new(data);
    if path.is_dir() {
        let file = |n: &str| Some(path.join(n)).filter(|p| p.exists());
        let Some(train) = file("train.tsv") else {
            bail!(
                "{}: a data directory needs train.tsv (and optionally valid.tsv, test.tsv)",
                path.display()
            );
        };
        return Ok((train, file("valid.tsv"), file("test.tsv")));
    }
    if path.is_file() {
        return Ok((path.to_path_buf(), None, None));
    }
    if data == "rotten-tomatoes" {
        let dir = crate::tasks::datasets::ensure(data)?;
        return Ok((dir.join(crate::data::rotten_tomatoes::FILE), None, None));
    }
    let stem = match data {
        "r8" => "reuters-r8",
        "r52" => "reuters-r52",
        "20ng" => "20newsgroups",
        _ if data.contains('/') || data.contains('.') => bail!("{data}: no such file or directory"),
        _ => bail!("`{data}` is not a file, a directory or a classification dataset (r8, r52, 20ng, rotten-tomatoes)"),
    };
    let dir = crate::tasks::datasets::ensure(data)?;
    Ok((
        dir.join(format!("{stem}-train.tab")),
        None,
        Some(dir.join(format!("{stem}-test.tab"))),
    ))
}

/// Loads `data`; `valid` and `test` files, when given, replace the splits `data` brings.
/// Fewer validation examples than this get a warning: the best epoch rests on very few.
const MIN_VALID: usize = 10;

pub fn load(data: &str, valid: Option<&Path>, test: Option<&Path>, valid_fraction: f64, seed: u64) -> Result<Splits> {
    let (train_path, valid_path, test_path) = locate(data)?;
    let valid_path = valid.map(Path::to_path_buf).or(valid_path);
    let test_path = test.map(Path::to_path_buf).or(test_path);
    for p in valid_path.iter().chain(&test_path) {
        if !p.is_file() {
            bail!("{}: no such file", p.display());
        }
    }
    let mut train = labeled::read(&train_path)?;
    let labels = match train_path
        .parent()
        .map(|d| d.join("labels.json"))
        .filter(|p| p.exists())
    {
        Some(p) => crate::data::json::read_json(&p)?,
        None => {
            let mut l: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
            l.sort();
            l.dedup();
            l
        }
    };
    if labels.len() < 2 {
        bail!(
            "{}: needs at least two classes, found {:?}",
            train_path.display(),
            labels
        );
    }
    let (valid, valid_origin) = match &valid_path {
        Some(p) => (labeled::read(p)?, format!("{}", p.display())),
        None => {
            if !(0.0..1.0).contains(&valid_fraction) || valid_fraction == 0.0 {
                bail!("--valid-fraction must be in (0, 1), got {valid_fraction}");
            }
            let names: Vec<&str> = train.iter().map(|e| e.label.as_str()).collect();
            let (valid_idx, train_idx) = split::stratified(&names, valid_fraction, seed);
            let valid = valid_idx.iter().map(|&i| train[i].clone()).collect();
            let rest = train_idx.iter().map(|&i| train[i].clone()).collect();
            train = rest;
            (
                valid,
                format!("stratified {:.0}% of train (seed {seed})", valid_fraction * 100.0),
            )
        }
    };
    // the best epoch, early stopping and the plateau schedule all read the validation loss:
    // an empty split would pick the "best" epoch on a loss of 0
    if valid.is_empty() {
        bail!(
            "the validation split ({valid_origin}) has no examples ({} training examples left); pass --valid FILE or a larger --valid-fraction",
            train.len()
        );
    }
    if valid.len() < MIN_VALID {
        eprintln!(
            "tsumugi: warning: the validation split ({valid_origin}) has only {} examples; the best epoch is chosen on them",
            valid.len()
        );
    }
    let test = match &test_path {
        Some(p) => Some(labeled::read(p)?),
        None => None,
    };
    let valid_file = valid_path.unwrap_or_else(|| train_path.clone());
    Ok(Splits {
        train,
        valid,
        test,
        labels,
        valid_origin,
        train_file: train_path,
        valid_file,
        test_file: test_path,
    })
}

/// Label ids of `examples`; an unknown label is an error naming the file and line.
pub fn label_ids(examples: &[Example], labels: &[String], file: &Path) -> Result<Vec<u32>> {
    examples
        .iter()
        .map(|e| match labels.iter().position(|l| *l == e.label) {
            Some(i) => Ok(i as u32),
            None => bail!(
                "{}:{}: unknown label `{}`; the model knows {}",
                file.display(),
                e.line,
                e.label,
                labels.join(", ")
            ),
        })
        .collect()
}
