//! Word tokenisers for mean-vector features.
//!
//! `Article` is NLP 100 Knocks' recipe: every ASCII punctuation character (Python's
//! `string.punctuation`) becomes a space, then split on whitespace. It breaks `U.S.` into `U S`
//! and `don't` into `don t`, losing words the vectors know. `Words` keeps word-internal `.`, `'`,
//! `-` and `&`, strips punctuation around words, and leaves the fallbacks (lower case, parts of a
//! compound) to the vector lookup.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Punctuation to spaces, then split (the article's `transform_w2v`).
    Article,
    /// Keeps word-internal punctuation; lookup falls back to lower case and compound parts.
    Words,
}

pub fn tokenize(kind: Tokenizer, text: &str) -> Vec<String> {
    match kind {
        Tokenizer::Article => text
            .chars()
            .map(|c| if c.is_ascii_punctuation() { ' ' } else { c })
            .collect::<String>()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        Tokenizer::Words => {
            let mut tokens = Vec::new();
            for chunk in text.split_whitespace() {
                let mut current = String::new();
                let chars: Vec<char> = chunk.chars().collect();
                for (i, &c) in chars.iter().enumerate() {
                    let joins = matches!(c, '.' | '\'' | '-' | '&' | '’')
                        && !current.is_empty()
                        && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                    if c.is_alphanumeric() || joins {
                        current.push(if c == '’' { '\'' } else { c });
                    } else if !current.is_empty() {
                        tokens.push(std::mem::take(&mut current));
                    }
                }
                if !current.is_empty() {
                    tokens.push(current);
                }
            }
            tokens
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_replaces_punctuation() {
        assert_eq!(
            tokenize(Tokenizer::Article, "U.S. stocks' \"rally\", don't-stop"),
            ["U", "S", "stocks", "rally", "don", "t", "stop"]
        );
    }

    #[test]
    fn words_keeps_internal_punctuation() {
        assert_eq!(
            tokenize(Tokenizer::Words, "U.S. stocks' \"rally\", don’t e-mail AT&T (2014)"),
            ["U.S", "stocks", "rally", "don't", "e-mail", "AT&T", "2014"]
        );
        assert!(tokenize(Tokenizer::Words, " ... !! ").is_empty());
    }
}
