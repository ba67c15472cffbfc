//! SentencePiece's text normaliser: the character map, then its whitespace rules (drop leading
//! and trailing whitespace, collapse runs, add the dummy `▁` prefix, write spaces as `▁`).
//!
//! transformers' fast converters approximate this with `Strip(right) + Replace + Metaspace`;
//! MLukeTokenizer has no fast version and calls SentencePiece, so this follows SentencePiece's
//! `Normalizer::Normalize` rule by rule: a text with leading spaces or a full-width space next
//! to an ASCII one gets the same pieces as the reference.

use super::charsmap::CharsMap;
use super::proto::NormalizerSpec;

pub const SPACE_SYMBOL: &str = "\u{2581}";

pub struct Normalizer {
    charsmap: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl Normalizer {
    pub fn new(spec: &NormalizerSpec, charsmap: Option<CharsMap>) -> Self {
        Self {
            charsmap,
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
        }
    }

    /// The replacement of the longest rule at the start of `input` (or its first character
    /// unchanged) and how many bytes it consumes.
    fn prefix<'a>(&'a self, input: &'a str) -> (&'a str, usize) {
        let rule = self.charsmap.as_ref().and_then(|m| m.longest_match(input.as_bytes()));
        // A rule always covers whole characters; a damaged map that says otherwise is ignored.
        if let Some((consumed, replacement)) = rule.filter(|&(consumed, _)| input.is_char_boundary(consumed)) {
            return (replacement, consumed);
        }
        let len = input.chars().next().map_or(0, char::len_utf8);
        (&input[..len], len)
    }

    pub fn normalize(&self, text: &str) -> String {
        let mut input = text;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (piece, consumed) = self.prefix(input);
                if piece != " " {
                    break;
                }
                input = &input[consumed..];
            }
        }
        let mut out = String::with_capacity(input.len() + 3);
        if input.is_empty() {
            return out;
        }
        let space = if self.escape_whitespaces { SPACE_SYMBOL } else { " " };
        if self.add_dummy_prefix {
            out.push_str(space);
        }
        let mut previous_was_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut piece, consumed) = self.prefix(input);
            if previous_was_space {
                piece = piece.trim_start_matches(' ');
            }
            if !piece.is_empty() {
                for ch in piece.chars() {
                    if ch == ' ' && self.escape_whitespaces {
                        out.push_str(SPACE_SYMBOL);
                    } else {
                        out.push(ch);
                    }
                }
                previous_was_space = piece.ends_with(' ');
            }
            input = &input[consumed..];
            previous_was_space &= self.remove_extra_whitespaces;
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Normalizer {
        let spec = NormalizerSpec {
            name: "identity".into(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        };
        Normalizer::new(&spec, None)
    }

    #[test]
    fn whitespace_rules_follow_sentencepiece() {
        let n = identity();
        assert_eq!(n.normalize("  a   b  "), "▁a▁b");
        assert_eq!(n.normalize("a"), "▁a");
        assert_eq!(n.normalize("   "), "");
        assert_eq!(n.normalize(""), "");
    }
}
