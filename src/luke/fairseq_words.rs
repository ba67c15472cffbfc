//! The word part of transformers' `MLukeTokenizer` (mLUKE, luke-japanese): SentencePiece pieces
//! with the fairseq id alignment the checkpoints were trained with.
//!
//! fairseq puts `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 first, every other piece at its
//! SentencePiece id + 1, then `<mask>`, then `<ent>`/`<ent2>`. transformers 5 builds the same
//! file with raw SentencePiece ids, which feeds these models the wrong inputs; this follows 4.x.
//! Added tokens in the text (`<mask>` and friends) are split out before SentencePiece sees it,
//! with `<mask>` taking the whitespace to its left, as the slow tokenizer does.

use super::sentencepiece::SentencePiece;
use crate::data::json::{ids_by_name, read_json};
use anyhow::{anyhow, Result};
use std::path::Path;

struct AddedWord {
    text: String,
    id: u32,
    lstrip: bool,
    rstrip: bool,
}

impl AddedWord {
    /// MLukeTokenizer's own flags: `<mask>` takes the whitespace on its left, nothing else strips.
    fn with_default_strip(text: String, id: u32) -> Self {
        let lstrip = text == "<mask>";
        Self {
            text,
            id,
            lstrip,
            rstrip: false,
        }
    }
}

pub struct FairseqWords {
    spm: SentencePiece,
    /// Longest first, so a scan finds `<ent2>` before `<ent>`.
    added: Vec<AddedWord>,
    unk: u32,
}

const FAIRSEQ_OFFSET: u32 = 1;

impl FairseqWords {
    /// Reads `sentencepiece.bpe.model`; added-token ids come from `tokenizer_config.json`'s
    /// `added_tokens_decoder` or `added_tokens.json` where given, else follow the pieces.
    pub fn load(dir: &Path, cfg: &serde_json::Value, entity_tokens: [&str; 2]) -> Result<Self> {
        let spm = SentencePiece::from_file(&dir.join("sentencepiece.bpe.model"))?;
        let n = spm.piece_count() as u32;
        let mut added: Vec<AddedWord> = [("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3)]
            .into_iter()
            .chain([("<mask>", n + FAIRSEQ_OFFSET)])
            .chain([(entity_tokens[0], n + 2), (entity_tokens[1], n + 3)])
            .map(|(text, id)| AddedWord::with_default_strip(text.to_string(), id))
            .collect();
        for (id, text) in spm.user_defined_pieces() {
            added.push(AddedWord {
                text: text.clone(),
                id: id + FAIRSEQ_OFFSET,
                lstrip: false,
                rstrip: false,
            });
        }
        for word in configured_added_words(dir, cfg)? {
            match added.iter_mut().find(|a| a.text == word.text) {
                Some(existing) => *existing = word,
                None => added.push(word),
            }
        }
        added.sort_by_key(|a| std::cmp::Reverse(a.text.len()));
        let unk = added.iter().find(|a| a.text == "<unk>").map_or(3, |a| a.id);
        Ok(Self { spm, added, unk })
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added.iter().find(|a| a.text == token).map(|a| a.id)
    }

    /// Word ids of `text`, no `<s>`/`</s>` around it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for chunk in self.split_added(text) {
            match chunk {
                Chunk::Added(id) => ids.push(id),
                Chunk::Text("") => {}
                Chunk::Text(t) => ids.extend(self.spm.encode(t)?.into_iter().map(|id| {
                    // `spm_id + offset if spm_id else unk_token_id`, as MLukeTokenizer maps pieces.
                    if id == 0 {
                        self.unk
                    } else {
                        id + FAIRSEQ_OFFSET
                    }
                })),
            }
        }
        Ok(ids)
    }

    /// Cuts `text` at added tokens (leftmost, then longest), stripping whitespace next to
    /// tokens marked `lstrip`/`rstrip`.
    fn split_added<'a>(&self, text: &'a str) -> Vec<Chunk<'a>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut strip_next = false;
        let mut i = 0;
        while i < text.len() {
            let Some(word) = self.added.iter().find(|a| text[i..].starts_with(a.text.as_str())) else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let mut before = &text[start..i];
            if strip_next {
                before = before.trim_start();
            }
            if word.lstrip {
                before = before.trim_end();
            }
            chunks.push(Chunk::Text(before));
            chunks.push(Chunk::Added(word.id));
            strip_next = word.rstrip;
            i += word.text.len();
            start = i;
        }
        let rest = &text[start..];
        chunks.push(Chunk::Text(if strip_next { rest.trim_start() } else { rest }));
        chunks
    }
}

enum Chunk<'a> {
    Text(&'a str),
    Added(u32),
}

/// Added tokens a checkpoint names with ids: `added_tokens_decoder` (with strip flags) in
/// tokenizer_config.json, or `added_tokens.json` (token → id).
fn configured_added_words(dir: &Path, cfg: &serde_json::Value) -> Result<Vec<AddedWord>> {
    let mut words = Vec::new();
    if let Some(decoder) = cfg.get("added_tokens_decoder").and_then(|d| d.as_object()) {
        for (id, entry) in decoder {
            let what = || {
                format!(
                    "{}: added_tokens_decoder[{id:?}]",
                    dir.join("tokenizer_config.json").display()
                )
            };
            let id: u32 = id
                .parse()
                .map_err(|_| anyhow!("{}: the key is not a token id", what()))?;
            let text = entry
                .get("content")
                .and_then(|c| c.as_str())
                .ok_or_else(|| anyhow!("{}: no \"content\"", what()))?;
            let flag = |key: &str| entry.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
            words.push(AddedWord {
                text: text.to_string(),
                id,
                lstrip: flag("lstrip"),
                rstrip: flag("rstrip"),
            });
        }
        return Ok(words);
    }
    let path = dir.join("added_tokens.json");
    if path.is_file() {
        words.extend(
            read_added_tokens(&path)?
                .into_iter()
                .map(|(text, id)| AddedWord::with_default_strip(text, id)),
        );
    }
    Ok(words)
}

/// `added_tokens.json`: token → id, as both tokenizer kinds ship it.
pub(super) fn read_added_tokens(path: &Path) -> Result<Vec<(String, u32)>> {
    ids_by_name(&read_json(path)?, path, "added tokens")
}
