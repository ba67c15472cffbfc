//! The labelled texts of a fine-tuning run: `--data` resolved into a training pool and a fixed
//! test split, the pool cut into a seeded, stratified valid split and a training subset of
//! `--train-size`, and every text turned into ids with the run's Keras vocabulary.
//!
//! `sentiment` (the default) is the four Hutto & Gilbert sets, `id<TAB>score<TAB>text` with a
//! header; a score above 0 is `positive`, else `negative`. Any dataset or file `classify` takes
//! works too. Where the data brings no test split, a stratified 10% is carved with seed 0, the
//! same for every arm and seed.

use crate::data::keras_vocab::{truncate, KerasVocab};
use crate::data::labeled::{self, Example};
use crate::data::split;
use crate::tasks::classify::source;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The share of the data carved as test where none comes with it, and its seed.
const TEST_FRACTION: f64 = 0.1;
const TEST_SEED: u64 = 0;

/// One example with the file it came from (for messages).
#[derive(Debug, Clone)]
pub struct Text {
    pub example: Example,
    pub file: PathBuf,
}

impl Text {
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.example.line)
    }
}

/// A dataset as fine-tuning sees it.
pub struct TaskData {
    /// Everything training may use (train and valid are cut from it).
    pub pool: Vec<Text>,
    pub test: Vec<Text>,
    /// Class names; index = label id.
    pub labels: Vec<String>,
    /// Where the test split came from, for the report.
    pub test_origin: String,
}

pub fn load(data: &str) -> Result<TaskData> {
    let (pool, test) = if data == "sentiment" {
        let dir = crate::tasks::datasets::ensure("sentiment")?;
        let mut pool = Vec::new();
        for name in [
            "movieReviewSnippets_GroundTruth.txt",
            "amazonReviewSnippets_GroundTruth.txt",
            "nytEditorialSnippets_GroundTruth.txt",
            "tweets_GroundTruth.txt",
        ] {
            pool.extend(read_scored(&dir.join(name))?);
        }
        (pool, None)
    } else {
        let (train, valid, test) = source::locate(data)?;
        let mut pool = read_labelled(&train)?;
        if let Some(valid) = valid {
            pool.extend(read_labelled(&valid)?);
        }
        (pool, test.map(|t| read_labelled(&t)).transpose()?)
    };
    let mut labels: Vec<String> = pool.iter().map(|t| t.example.label.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 {
        bail!("{data}: needs at least two classes, found {labels:?}");
    }
    let (pool, test, test_origin) = match test {
        Some(test) => {
            let origin = format!("{}", test[0].file.display());
            (pool, test, origin)
        }
        None => {
            let names: Vec<&str> = pool.iter().map(|t| t.example.label.as_str()).collect();
            let (test_idx, rest) = split::stratified(&names, TEST_FRACTION, TEST_SEED);
            let pick = |idx: &[usize]| idx.iter().map(|&i| pool[i].clone()).collect::<Vec<_>>();
            let origin = format!(
                "stratified {:.0}% of the data (seed {TEST_SEED})",
                TEST_FRACTION * 100.0
            );
            (pick(&rest), pick(&test_idx), origin)
        }
    };
    Ok(TaskData {
        pool,
        test,
        labels,
        test_origin,
    })
}

fn read_labelled(path: &Path) -> Result<Vec<Text>> {
    Ok(labeled::read(path)?
        .into_iter()
        .map(|example| Text {
            example,
            file: path.to_path_buf(),
        })
        .collect())
}

/// A Hutto & Gilbert file: a header, then `id<TAB>score<TAB>text`.
fn read_scored(path: &Path) -> Result<Vec<Text>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for item in crate::data::lines::text_lines(&bytes, path) {
        let (line, text) = item?;
        if line == 1 && text.starts_with("id\t") {
            continue;
        }
        let mut parts = text.splitn(3, '\t');
        let (Some(_), Some(score), Some(words)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("{}:{line}: expected `id<TAB>score<TAB>text`", path.display());
        };
        let score: f64 = score
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite())
            .with_context(|| format!("{}:{line}: the score `{score}` is not a number", path.display()))?;
        let label = if score > 0.0 { "positive" } else { "negative" };
        out.push(Text {
            example: Example {
                label: label.to_string(),
                text: words.trim().to_string(),
                line,
            },
            file: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Texts as ids and label ids; texts left with no word (none after filtering, or none the
/// vocabulary keeps without an OOV id) are left out and counted.
pub struct Encoded {
    pub ids: Vec<Vec<u32>>,
    pub labels: Vec<u32>,
    /// Where each dropped text stood (`file:line`).
    pub dropped: Vec<String>,
}

pub fn encode(texts: &[Text], vocab: &KerasVocab, labels: &[String], max_len: usize) -> Result<Encoded> {
    if max_len == 0 {
        bail!("--max-len 0 leaves no word of any text");
    }
    let index = vocab.index();
    let mut out = Encoded {
        ids: Vec::new(),
        labels: Vec::new(),
        dropped: Vec::new(),
    };
    for t in texts {
        let Some(label) = labels.iter().position(|l| *l == t.example.label) else {
            bail!(
                "{}: unknown label `{}`; the run knows {}",
                t.at(),
                t.example.label,
                labels.join(", ")
            );
        };
        let ids = truncate(vocab.encode(&t.example.text, &index), max_len);
        if ids.is_empty() {
            out.dropped.push(t.at());
            continue;
        }
        out.ids.push(ids);
        out.labels.push(label as u32);
    }
    Ok(out)
}

/// The pool cut for one run: a stratified valid split (`valid_fraction` of the pool, seeded)
/// and `train_size` examples of the rest (all when `None`), drawn with the same seed.
pub fn cut(pool: &[Text], valid_fraction: f64, train_size: Option<usize>, seed: u64) -> Result<(Vec<Text>, Vec<Text>)> {
    let names: Vec<&str> = pool.iter().map(|t| t.example.label.as_str()).collect();
    let (valid_idx, rest) = split::stratified(&names, valid_fraction, seed);
    let n = match train_size {
        Some(n) if n > rest.len() => bail!(
            "--train-size {n} is larger than the {} training examples left after the valid split",
            rest.len()
        ),
        Some(0) => bail!("--train-size 0 trains on nothing"),
        Some(n) => n,
        None => rest.len(),
    };
    // `rest` comes back shuffled: its first n are a seeded draw
    let train: Vec<Text> = rest[..n].iter().map(|&i| pool[i].clone()).collect();
    let valid = valid_idx.iter().map(|&i| pool[i].clone()).collect();
    let classes = |ts: &[Text]| {
        let mut l: Vec<&str> = ts.iter().map(|t| t.example.label.as_str()).collect();
        l.sort();
        l.dedup();
        l.len()
    };
    if classes(&train) < 2 {
        bail!("the {n} training examples drawn hold a single class; a larger --train-size is needed");
    }
    Ok((train, valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(n: usize) -> Vec<Text> {
        (0..n)
            .map(|i| Text {
                example: Example {
                    label: if i % 3 == 0 { "neg" } else { "pos" }.into(),
                    text: format!("word{} common", i % 7),
                    line: i + 1,
                },
                file: PathBuf::from("d.tsv"),
            })
            .collect()
    }

    #[test]
    fn cuts_are_seeded_and_sizes_checked() {
        let pool = texts(100);
        let (train, valid) = cut(&pool, 0.1, Some(30), 4).unwrap();
        assert_eq!((train.len(), valid.len()), (30, 10));
        let (again, _) = cut(&pool, 0.1, Some(30), 4).unwrap();
        assert_eq!(
            train.iter().map(|t| t.example.line).collect::<Vec<_>>(),
            again.iter().map(|t| t.example.line).collect::<Vec<_>>()
        );
        assert_eq!(cut(&pool, 0.1, None, 4).unwrap().0.len(), 90);
        let e = cut(&pool, 0.1, Some(91), 4).err().unwrap().to_string();
        assert!(e.contains("--train-size 91 is larger than the 90"), "{e}");
        assert!(cut(&pool, 0.1, Some(0), 4).is_err());
    }

    #[test]
    fn empty_texts_are_dropped_and_named_and_bad_settings_refused() {
        let mut pool = texts(6);
        pool[2].example.text = "!!! ...".into();
        let vocab = KerasVocab::fit(pool.iter().map(|t| t.example.text.as_str()), None, false).unwrap();
        let labels = ["neg".to_string(), "pos".to_string()];
        let enc = encode(&pool, &vocab, &labels, 1).unwrap();
        assert_eq!(enc.ids.len(), 5);
        assert!(enc.ids.iter().all(|t| t.len() == 1));
        assert_eq!(enc.dropped, ["d.tsv:3"]);
        assert!(encode(&pool, &vocab, &labels, 0).is_err());
        let e = encode(&pool, &vocab, &labels[..1], 5).err().unwrap().to_string();
        assert!(e.contains("d.tsv:2: unknown label `pos`"), "{e}");
    }

    #[test]
    fn scored_files_binarise_at_zero_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.txt");
        std::fs::write(&p, "id\tsentiment\ttext\n1\t0.5\tgood\n2\t0\tmeh\n3\t-1.2\tbad\n").unwrap();
        let t = read_scored(&p).unwrap();
        let labels: Vec<&str> = t.iter().map(|t| t.example.label.as_str()).collect();
        assert_eq!(labels, ["positive", "negative", "negative"]);
        std::fs::write(&p, "id\tsentiment\ttext\n1\tgreat\tgood\n").unwrap();
        let e = read_scored(&p).unwrap_err().to_string();
        assert!(e.contains("s.txt:2: the score `great`"), "{e}");
        std::fs::write(&p, "1\tNaN\tgood\n").unwrap();
        assert!(read_scored(&p).is_err());
    }
}
