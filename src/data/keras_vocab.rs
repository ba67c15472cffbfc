//! Text to ids as Keras's `Tokenizer` and `pad_sequences` make them, the recipe of the
//! pre-training/fine-tuning article: lower-case, every character of the default `filters`
//! becomes a space, split on spaces; ids ranked by frequency over the training texts (ties in
//! order of first appearance, as Python's stable sort leaves them), 0 reserved for padding, and
//! with `num_words` only ids below it kept (Keras's off-by-one: `num_words − 1` words).
//!
//! Padding goes after each text (Keras's `padding='post'`): with a one-way LSTM the padded steps
//! then come after every real one and change none of them. A text longer than `max_len` keeps
//! its first `max_len` words (`truncating='post'`; Keras's default keeps the last).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Keras's default `filters`: `!"#$%&()*+,-./:;<=>?@[\]^_`{|}~` plus tab and newline.
pub const KERAS_FILTERS: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// The padding id.
pub const PAD: u32 = 0;

/// A fitted vocabulary, saved in a run as `vocab.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KerasVocab {
    /// Words by rank: `words[i]` has id `i + 1` (`i + 2` with an OOV id).
    pub words: Vec<String>,
    /// Keras's `num_words`: ids at or above it are dropped (or become the OOV id).
    pub num_words: Option<usize>,
    /// Whether id 1 stands for every word outside the kept vocabulary (Keras's `oov_token`).
    pub oov: bool,
}

/// Keras's `text_to_word_sequence` with the default filters, lower-casing and split.
pub fn words(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let filtered: String = lowered
        .chars()
        .map(|c| if KERAS_FILTERS.contains(c) { ' ' } else { c })
        .collect();
    filtered
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl KerasVocab {
    /// Ranks the words of `texts` by count; `num_words` as Keras takes it (at least 2).
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>, num_words: Option<usize>, oov: bool) -> Result<Self> {
        if let Some(n) = num_words {
            if n < 2 {
                bail!("--num-words {n} keeps no word: ids below it are kept, and 0 is padding");
            }
        }
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        for text in texts {
            for w in words(text) {
                let next = counts.len();
                counts.entry(w).or_insert((0, next)).0 += 1;
            }
        }
        let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
        // by count, descending; ties by first appearance
        ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
        if ranked.is_empty() {
            bail!("the training texts hold no word after lower-casing and filtering");
        }
        Ok(Self {
            words: ranked.into_iter().map(|(w, _)| w).collect(),
            num_words,
            oov,
        })
    }

    /// The id of the first word (after padding and the OOV id).
    fn first(&self) -> u32 {
        if self.oov {
            2
        } else {
            1
        }
    }

    /// How many ids the model's embedding needs: padding, OOV and every kept word.
    pub fn size(&self) -> usize {
        let all = self.words.len() + self.first() as usize;
        self.num_words.map_or(all, |n| n.min(all))
    }

    /// The ids of `text`'s words: a word outside the kept vocabulary becomes the OOV id or is
    /// dropped, as Keras's `texts_to_sequences` does.
    pub fn encode(&self, text: &str, index: &HashMap<&str, u32>) -> Vec<u32> {
        let limit = self.size() as u32;
        words(text)
            .into_iter()
            .filter_map(|w| match index.get(w.as_str()) {
                Some(&id) if id < limit => Some(id),
                _ if self.oov => Some(1),
                _ => None,
            })
            .collect()
    }

    /// Word → id, for [`KerasVocab::encode`].
    pub fn index(&self) -> HashMap<&str, u32> {
        let first = self.first();
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_str(), first + i as u32))
            .collect()
    }
}

/// `ids` cut to its first `max_len` ids (padding is added per batch, after the text).
pub fn truncate(mut ids: Vec<u32>, max_len: usize) -> Vec<u32> {
    ids.truncate(max_len);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Keras's `Tokenizer().fit_on_texts` gives for these texts (worked out from its
    /// source: counts, then first appearance).
    #[test]
    fn ranks_like_keras() {
        let texts = ["The cat, the HAT!", "a cat sat.", "Don't stop"];
        let v = KerasVocab::fit(texts, None, false).unwrap();
        assert_eq!(v.words, ["the", "cat", "hat", "a", "sat", "don't", "stop"]);
        let index = v.index();
        assert_eq!(v.encode("the hat sat on a mat", &index), [1, 3, 5, 4]);
        assert_eq!(v.size(), 8);
        // num_words 4 keeps ids 1..=3
        let v = KerasVocab::fit(texts, Some(4), false).unwrap();
        assert_eq!(v.encode("the hat sat", &v.index()), [1, 3]);
        assert_eq!(v.size(), 4);
        // with an OOV id, unknown and dropped words become 1
        let v = KerasVocab::fit(texts, Some(4), true).unwrap();
        assert_eq!(v.encode("the hat mat", &v.index()), [2, 1, 1]);
        assert_eq!(v.size(), 4);
    }

    #[test]
    fn filters_split_and_truncation() {
        let w = words("Hello,world\t(again)  ...ok\u{e9}");
        assert_eq!(w, ["hello", "world", "again", "ok\u{e9}"]);
        assert_eq!(truncate(vec![1, 2, 3], 2), [1, 2]);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(KerasVocab::fit(["a b"], Some(1), false).is_err());
        let e = KerasVocab::fit(["...", "!!"], None, false).unwrap_err();
        assert!(e.to_string().contains("no word"), "{e}");
    }
}
