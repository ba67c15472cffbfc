//! Word-level corpora for language models, read as Mikolov's PTB files are: whitespace-separated
//! words, `<eos>` appended to every line, a vocabulary built from the training file in order of
//! first appearance (as PyTorch's word_language_model example does).

use super::lines::text_lines;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vocab {
    pub words: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    pub fn from_words(words: Vec<String>) -> Self {
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Self { words, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    fn add(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.index.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_string());
        self.index.insert(word.to_string(), id);
        id
    }
}

/// Every line's words and `<eos>`, with the line numbers; a line without words is an error
/// (a blank line in a PTB-style file means a broken file, not an empty sentence).
fn words_of(path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    let mut expected_line = 1;
    for item in text_lines(&bytes, path) {
        let (line_no, line) = item?;
        if line_no != expected_line {
            bail!("{}:{expected_line}: a line without words", path.display());
        }
        expected_line = line_no + 1;
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        words.push(EOS.to_string());
        out.push((line_no, words));
    }
    if out.is_empty() {
        bail!("{}: the corpus has no words", path.display());
    }
    Ok(out)
}

/// Reads the training file, growing the vocabulary.
pub fn read_train(path: &Path, vocab: &mut Vocab) -> Result<Vec<u32>> {
    Ok(words_of(path)?
        .into_iter()
        .flat_map(|(_, words)| words)
        .map(|w| vocab.add(&w))
        .collect())
}

/// Reads a valid/test file against a fixed vocabulary: unknown words become `<unk>` when the
/// vocabulary has it, else they are an error naming file, line and word.
pub fn read_with(path: &Path, vocab: &Vocab) -> Result<Vec<u32>> {
    let unk = vocab.id(UNK);
    let mut ids = Vec::new();
    for (line_no, words) in words_of(path)? {
        for w in words {
            match vocab.id(&w).or(unk) {
                Some(id) => ids.push(id),
                None => bail!(
                    "{}:{line_no}: `{w}` is not in the training vocabulary (and there is no {UNK})",
                    path.display()
                ),
            }
        }
    }
    Ok(ids)
}

/// Lays tokens out as `[rows, batch]` time-major: column b holds the b-th contiguous slice of
/// the stream, as the book's and PyTorch's `batchify` do; the remainder is dropped.
pub fn batchify(tokens: &[u32], batch: usize) -> (Vec<u32>, usize) {
    let rows = tokens.len() / batch;
    let mut out = vec![0u32; rows * batch];
    for b in 0..batch {
        for t in 0..rows {
            out[t * batch + b] = tokens[b * rows + t];
        }
    }
    (out, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vocab_unk_and_batchifies() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.txt");
        std::fs::write(&train, " a b <unk> \n b c\n").unwrap();
        let mut vocab = Vocab::default();
        let ids = read_train(&train, &mut vocab).unwrap();
        assert_eq!(vocab.words, ["a", "b", "<unk>", "<eos>", "c"]);
        assert_eq!(ids, [0, 1, 2, 3, 1, 4, 3]);
        let valid = dir.path().join("valid.txt");
        std::fs::write(&valid, "a zebra\n").unwrap();
        assert_eq!(read_with(&valid, &vocab).unwrap(), [0, 2, 3]);
        let (b, rows) = batchify(&[0, 1, 2, 3, 4, 5, 6], 2);
        assert_eq!((rows, b), (3, vec![0, 3, 1, 4, 2, 5]));
    }

    #[test]
    fn bad_corpora_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "a b\n\nc\n").unwrap();
        let e = read_train(&p, &mut Vocab::default()).unwrap_err().to_string();
        assert!(e.contains("t.txt:2: a line without words"), "{e}");
        std::fs::write(&p, "").unwrap();
        assert!(read_train(&p, &mut Vocab::default())
            .unwrap_err()
            .to_string()
            .contains("no words"));
        std::fs::write(&p, "a\n").unwrap();
        let mut v = Vocab::default();
        read_train(&p, &mut v).unwrap();
        std::fs::write(&p, "a\nb\n").unwrap();
        let e = read_with(&p, &v).unwrap_err().to_string();
        assert!(e.contains("t.txt:2: `b` is not in the training vocabulary"), "{e}");
    }
}
