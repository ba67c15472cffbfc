//! Mean-of-word-vectors sentence features (NLP 100 Knocks problem 70), with an explicit policy
//! for texts in which no word has a vector — the article divides by zero there and gets NaN.

use super::WordVectors;
use crate::data::tokenize::{tokenize, Tokenizer};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What to do with a text none of whose words has a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyPolicy {
    /// Use the zero vector; the count is reported.
    Zero,
    /// Stop with an error naming the text.
    Error,
}

/// Vocabulary coverage of one featurised set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Coverage {
    pub texts: usize,
    /// Texts with no known word (zero vectors under [`EmptyPolicy::Zero`]).
    pub texts_without_known_word: usize,
    pub tokens: usize,
    pub known_tokens: usize,
    pub types: usize,
    pub known_types: usize,
    /// 0-based indices of the texts with no known word.
    #[serde(skip)]
    pub empty_rows: Vec<usize>,
}

impl Coverage {
    pub fn token_rate(&self) -> f64 {
        self.known_tokens as f64 / self.tokens.max(1) as f64
    }
    pub fn type_rate(&self) -> f64 {
        self.known_types as f64 / self.types.max(1) as f64
    }
    pub fn summary(&self) -> String {
        format!(
            "{} texts, token coverage {:.1}% ({}/{}), type coverage {:.1}% ({}/{}), {} text(s) with no known word",
            self.texts,
            100.0 * self.token_rate(),
            self.known_tokens,
            self.tokens,
            100.0 * self.type_rate(),
            self.known_types,
            self.types,
            self.texts_without_known_word
        )
    }
}

/// The forms of a token that may have a vector: whole-word forms first (exact, then lower case),
/// then compound parts, used only when no whole form is known. The article's tokenizer tries
/// only the exact form (as `word in model` does).
pub fn candidate_forms(kind: Tokenizer, token: &str) -> (Vec<String>, Vec<String>) {
    let mut whole = vec![token.to_string()];
    let mut parts = Vec::new();
    if kind == Tokenizer::Words {
        let lower = token.to_lowercase();
        if lower != token {
            whole.push(lower.clone());
        }
        if token.contains(['-', '.', '\'', '&']) {
            parts.extend(
                lower
                    .split(['-', '.', '\'', '&'])
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
        }
    }
    (whole, parts)
}

/// Every form any token of `texts` could be looked up as: restricts vector loading to these.
pub fn needed_words<'a>(kind: Tokenizer, texts: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    let mut words = HashSet::new();
    for text in texts {
        for token in tokenize(kind, text) {
            let (whole, parts) = candidate_forms(kind, &token);
            words.extend(whole);
            words.extend(parts);
        }
    }
    words
}

/// The vectors a token contributes: its first known whole form, else its known compound parts.
fn lookup<'v>(vectors: &'v WordVectors, kind: Tokenizer, token: &str) -> Vec<&'v [f32]> {
    let (whole, parts) = candidate_forms(kind, token);
    if let Some(v) = whole.iter().find_map(|f| vectors.get(f)) {
        return vec![v];
    }
    parts.iter().filter_map(|f| vectors.get(f)).collect()
}

/// Features `[texts.len(), dim]` (row-major) and the coverage they had.
pub fn mean_vectors(
    texts: &[&str],
    vectors: &WordVectors,
    kind: Tokenizer,
    policy: EmptyPolicy,
) -> Result<(Vec<f32>, Coverage)> {
    let dim = vectors.dim();
    let mut out = vec![0f32; texts.len() * dim];
    let mut coverage = Coverage {
        texts: texts.len(),
        ..Coverage::default()
    };
    let mut types = HashSet::new();
    let mut known_types = HashSet::new();
    for (i, text) in texts.iter().enumerate() {
        let row = &mut out[i * dim..(i + 1) * dim];
        let mut found = 0usize;
        for token in tokenize(kind, text) {
            coverage.tokens += 1;
            let hits = lookup(vectors, kind, &token);
            if !hits.is_empty() {
                coverage.known_tokens += 1;
                known_types.insert(token.clone());
            }
            types.insert(token);
            for v in hits {
                for (o, x) in row.iter_mut().zip(v) {
                    *o += x;
                }
                found += 1;
            }
        }
        if found == 0 {
            coverage.texts_without_known_word += 1;
            coverage.empty_rows.push(i);
            if policy == EmptyPolicy::Error {
                bail!("text {} has no word with a vector: {:?}", i + 1, text);
            }
        } else {
            let scale = 1.0 / found as f32;
            row.iter_mut().for_each(|o| *o *= scale);
        }
    }
    coverage.types = types.len();
    coverage.known_types = known_types.len();
    Ok((out, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vecs() -> WordVectors {
        let mut v = WordVectors::new(2);
        v.push("Fed", &[1.0, 0.0]);
        v.push("rates", &[0.0, 1.0]);
        v.push("e", &[2.0, 2.0]);
        v.push("mail", &[4.0, 0.0]);
        v
    }

    #[test]
    fn mean_and_zero_policy() {
        let texts = ["Fed: rates!", "zzz qqq", "FED e-mail"];
        let (x, cov) = mean_vectors(&texts, &vecs(), Tokenizer::Words, EmptyPolicy::Zero).unwrap();
        assert_eq!(&x[0..2], &[0.5, 0.5]);
        assert_eq!(&x[2..4], &[0.0, 0.0]);
        // "FED" is unknown in both forms ("FED", "fed"); "e-mail" falls back to its parts.
        assert_eq!(&x[4..6], &[3.0, 1.0]);
        assert_eq!(cov.texts_without_known_word, 1);
        assert_eq!((cov.tokens, cov.known_tokens), (6, 3));
        let err = mean_vectors(&texts, &vecs(), Tokenizer::Words, EmptyPolicy::Error).unwrap_err();
        assert!(err.to_string().contains("text 2"));
    }

    #[test]
    fn article_tokenizer_is_exact_only() {
        let (x, _) = mean_vectors(&["e-mail Rates"], &vecs(), Tokenizer::Article, EmptyPolicy::Zero).unwrap();
        assert_eq!(&x, &[3.0, 1.0]);
        assert!(needed_words(Tokenizer::Words, ["U.S"]).contains("u"));
    }
}
