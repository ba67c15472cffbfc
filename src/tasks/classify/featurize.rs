//! Problem 70: turns labelled texts into mean-vector features `X [n, d]` and label ids `y [n]`,
//! loading only the word vectors the texts can use.

use super::source::{label_ids, Splits};
use crate::data::tokenize::Tokenizer;
use crate::data::{labeled::Example, registry};
use crate::embed::features::{mean_vectors, needed_words, Coverage, EmptyPolicy};
use crate::embed::{self, WordVectors};
use crate::train::checkpoint::write_tensors;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One split as matrices.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// `[rows, dim]`
    pub x: Vec<f32>,
    /// `[rows]`
    pub y: Vec<u32>,
    pub rows: usize,
}

#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub dim: usize,
    pub labels: Vec<String>,
    pub train: Matrix,
    pub valid: Matrix,
    pub test: Option<Matrix>,
    /// Coverage per split name.
    pub coverage: Vec<(String, Coverage)>,
}

/// A `--vectors` value as a file: an existing path, or a dataset name fetched on first use.
pub fn vectors_path(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match spec {
        "glove-100d" => Ok(crate::tasks::datasets::ensure(spec)?.join(registry::WINK_WORD2VEC)),
        _ if spec.contains('/') || spec.contains('.') => bail!("vectors file {spec} does not exist"),
        _ => bail!("`{spec}` is neither a vectors file nor a known vectors name (glove-100d)"),
    }
}

/// Loads the vectors `texts` can use (every lookup form of every token).
pub fn load_vectors_for<'a>(
    spec: &str,
    tokenizer: Tokenizer,
    texts: impl IntoIterator<Item = &'a str>,
) -> Result<WordVectors> {
    let path = vectors_path(spec)?;
    let wanted = needed_words(tokenizer, texts);
    let vectors = embed::load(&path, Some(&wanted)).with_context(|| format!("loading vectors {}", path.display()))?;
    if vectors.dim() == 0 {
        bail!("{}: vectors have dimension 0", path.display());
    }
    Ok(vectors)
}

pub fn matrix(
    examples: &[Example],
    file: &Path,
    labels: &[String],
    vectors: &WordVectors,
    tokenizer: Tokenizer,
    policy: EmptyPolicy,
) -> Result<(Matrix, Coverage)> {
    let y = label_ids(examples, labels, file)?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let (x, coverage) = mean_vectors(&texts, vectors, tokenizer, EmptyPolicy::Zero)?;
    if let (EmptyPolicy::Error, Some(&row)) = (policy, coverage.empty_rows.first()) {
        let e = &examples[row];
        bail!(
            "{}:{}: no word of {:?} has a vector (--empty zero would use a zero vector)",
            file.display(),
            e.line,
            e.text
        );
    }
    Ok((
        Matrix {
            x,
            y,
            rows: examples.len(),
        },
        coverage,
    ))
}

pub fn build(splits: &Splits, vectors_spec: &str, tokenizer: Tokenizer, policy: EmptyPolicy) -> Result<FeatureSet> {
    let all_texts = splits
        .train
        .iter()
        .chain(&splits.valid)
        .chain(splits.test.iter().flatten())
        .map(|e| e.text.as_str());
    let vectors = load_vectors_for(vectors_spec, tokenizer, all_texts)?;
    let (train_file, valid_file) = (&splits.train_file, &splits.valid_file);
    let test_file = splits.test_file.as_ref().unwrap_or(train_file);
    let (train, c_train) = matrix(&splits.train, train_file, &splits.labels, &vectors, tokenizer, policy)?;
    let (valid, c_valid) = matrix(&splits.valid, valid_file, &splits.labels, &vectors, tokenizer, policy)?;
    let mut coverage = vec![("train".to_string(), c_train), ("valid".to_string(), c_valid)];
    let test = match &splits.test {
        Some(t) => {
            let (m, c) = matrix(t, test_file, &splits.labels, &vectors, tokenizer, policy)?;
            coverage.push(("test".to_string(), c));
            Some(m)
        }
        None => None,
    };
    Ok(FeatureSet {
        dim: vectors.dim(),
        labels: splits.labels.clone(),
        train,
        valid,
        test,
        coverage,
    })
}

/// Saves `X_train`, `y_train`, `X_valid`, … as safetensors (X f32 `[n, d]`, y i64 `[n]`, as the
/// article's `torch.save` tensors), with the label names in the metadata.
pub fn save(path: &Path, set: &FeatureSet) -> Result<()> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let splits = [
        ("train", Some(&set.train)),
        ("valid", Some(&set.valid)),
        ("test", set.test.as_ref()),
    ];
    for (name, m) in splits {
        if let Some(m) = m {
            xs.push((format!("X_{name}"), vec![m.rows, set.dim], m.x.as_slice()));
            ys.push((
                format!("y_{name}"),
                vec![m.rows],
                m.y.iter().map(|&v| v as i64).collect(),
            ));
        }
    }
    let meta = serde_json::json!({ "labels": set.labels });
    write_tensors(path, &xs, &ys, Some(&meta))
}
