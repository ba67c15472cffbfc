//! The word part of a LUKE tokenizer: RoBERTa byte-level BPE (`tokenizer.json`, or
//! `vocab.json` + `merges.txt` + `added_tokens.json`) through the `tokenizers` crate, or the
//! SentencePiece pieces of mLUKE and luke-japanese with fairseq ids.

use super::fairseq_words::{read_added_tokens, FairseqWords};
use anyhow::{anyhow, bail, Result};
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

pub enum WordTokenizer {
    Bpe(Box<Tokenizer>),
    SentencePiece(Box<FairseqWords>),
}

impl WordTokenizer {
    /// Picks the format the checkpoint ships: MLukeTokenizer's SentencePiece model when the
    /// config names that class or nothing else is there, else the BPE files.
    pub fn load(dir: &Path, cfg: &serde_json::Value, entity_tokens: [&str; 2]) -> Result<Self> {
        let class = cfg.get("tokenizer_class").and_then(|c| c.as_str());
        let spm = dir.join("sentencepiece.bpe.model");
        let json = dir.join("tokenizer.json");
        let has_bpe = json.is_file() || dir.join("vocab.json").is_file();
        if class == Some("MLukeTokenizer") || (spm.is_file() && !has_bpe) {
            if !spm.is_file() {
                bail!("{}: MLukeTokenizer needs sentencepiece.bpe.model", dir.display());
            }
            let words = FairseqWords::load(dir, cfg, entity_tokens)?;
            return Ok(Self::SentencePiece(Box::new(words)));
        }
        if json.is_file() {
            let tok = Tokenizer::from_file(&json).map_err(|e| anyhow!("{}: cannot load: {e}", json.display()))?;
            return Ok(Self::Bpe(Box::new(tok)));
        }
        Ok(Self::Bpe(Box::new(load_bpe(dir, cfg)?)))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match self {
            Self::Bpe(t) => t.token_to_id(token),
            Self::SentencePiece(w) => w.token_to_id(token),
        }
    }

    /// Word ids of a piece of text, no special tokens around it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Bpe(t) => {
                let enc = t
                    .encode(text, false)
                    .map_err(|e| anyhow!("cannot tokenize {text:?}: {e}"))?;
                Ok(enc.get_ids().to_vec())
            }
            Self::SentencePiece(w) => w.encode(text),
        }
    }
}

fn load_bpe(dir: &Path, cfg: &serde_json::Value) -> Result<Tokenizer> {
    let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
    for f in [&vocab, &merges] {
        if !f.is_file() {
            bail!(
                "{}: missing {} (or tokenizer.json, or sentencepiece.bpe.model)",
                dir.display(),
                f.display()
            );
        }
    }
    let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
        .build()
        .map_err(|e| {
            anyhow!(
                "{}: cannot build the BPE from vocab.json + merges.txt: {e}",
                dir.display()
            )
        })?;
    let mut words = Tokenizer::new(bpe);
    let add_prefix_space = cfg.get("add_prefix_space").and_then(|v| v.as_bool()).unwrap_or(false);
    words.with_pre_tokenizer(Some(ByteLevel::new(add_prefix_space, true, true)));
    words.with_decoder(Some(ByteLevel::default()));
    let base = words.get_vocab_size(false);
    let added_path = dir.join("added_tokens.json");
    let mut added = if added_path.is_file() {
        read_added_tokens(&added_path)?
    } else {
        vec![("<ent>".into(), base as u32), ("<ent2>".into(), base as u32 + 1)]
    };
    added.sort_by_key(|(_, id)| *id);
    for (token, id) in &added {
        if words.token_to_id(token).is_none() {
            words.add_special_tokens(&[AddedToken::from(token.clone(), true)]);
        }
        if words.token_to_id(token) != Some(*id) {
            bail!(
                "{}: {token:?} has id {id} but the vocabulary places it at {:?} (ids must follow vocab.json)",
                added_path.display(),
                words.token_to_id(token)
            );
        }
    }
    Ok(words)
}
