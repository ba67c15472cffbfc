//! A word → vector table stored as one contiguous row-major matrix `[len, dim]`.

use std::collections::{HashMap, HashSet};

/// Refuses a vector holding NaN or an infinity: one such value trains a model of NaNs (every
/// weight it reaches) with no error. `at` names where it was read (`file:line`, `file: entry N`).
pub fn check_finite(row: &[f32], word: &str, at: impl FnOnce() -> String) -> anyhow::Result<()> {
    match row.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => anyhow::bail!(
            "{}: value {} of `{word}` is {}; word vectors must be finite numbers",
            at(),
            k + 1,
            row[k]
        ),
    }
}

#[derive(Debug, Clone, Default)]
pub struct WordVectors {
    dim: usize,
    words: Vec<String>,
    index: HashMap<String, usize>,
    /// `[len, dim]`, row `i` is the vector of `words[i]`.
    data: Vec<f32>,
}

impl WordVectors {
    pub fn new(dim: usize) -> Self {
        Self { dim, ..Self::default() }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Adds a word; a repeated word keeps its first vector (as gensim does). Returns whether added.
    pub fn push(&mut self, word: &str, vector: &[f32]) -> bool {
        debug_assert_eq!(vector.len(), self.dim);
        if self.index.contains_key(word) {
            return false;
        }
        self.index.insert(word.to_string(), self.words.len());
        self.words.push(word.to_string());
        self.data.extend_from_slice(vector);
        true
    }

    pub fn get(&self, word: &str) -> Option<&[f32]> {
        let row = *self.index.get(word)?;
        Some(&self.data[row * self.dim..(row + 1) * self.dim])
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn restricted_to(&self, keep: &HashSet<String>) -> WordVectors {
        let mut out = WordVectors::new(self.dim);
        for (i, w) in self.words.iter().enumerate() {
            if keep.contains(w) {
                out.push(w, self.row(i));
            }
        }
        out
    }
}
