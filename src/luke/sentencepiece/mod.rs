//! SentencePiece unigram models (`sentencepiece.bpe.model`, despite the name, in mLUKE and
//! luke-japanese) read without the SentencePiece library: the model proto, its normaliser, and
//! Viterbi segmentation by the `tokenizers` crate's `Unigram` over the normalised text.
//!
//! Ids here are SentencePiece's own; the fairseq alignment the LUKE checkpoints use lives in
//! `luke::fairseq_words`.

pub mod charsmap;
mod normalizer;
mod proto;

use anyhow::{anyhow, bail, Context, Result};
use charsmap::CharsMap;
use normalizer::Normalizer;
use proto::{ModelProto, ModelType, PieceKind};
use std::path::Path;
use tokenizers::models::unigram::Unigram;
use tokenizers::Model;

pub struct SentencePiece {
    unigram: Unigram,
    normalizer: Normalizer,
    piece_count: usize,
    /// Pieces SentencePiece never splits (`USER_DEFINED`), with their ids.
    user_defined: Vec<(u32, String)>,
}

impl SentencePiece {
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("{}: not a usable SentencePiece model", path.display()))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let model = ModelProto::parse(bytes)?;
        if model.model_type != ModelType::Unigram {
            bail!(
                "model_type {:?}: only unigram models (those of mLUKE and luke-japanese) are supported",
                model.model_type
            );
        }
        if model.treat_whitespace_as_suffix {
            bail!("treat_whitespace_as_suffix is not supported");
        }
        let charsmap = if model.normalizer.precompiled_charsmap.is_empty() {
            None
        } else {
            Some(CharsMap::from_blob(&model.normalizer.precompiled_charsmap)?)
        };
        let normalizer = Normalizer::new(&model.normalizer, charsmap);
        let vocab = model
            .pieces
            .iter()
            .map(|p| (p.text.clone(), f64::from(p.score)))
            .collect();
        let unigram = Unigram::from(vocab, Some(model.unk_id), model.byte_fallback)
            .map_err(|e| anyhow!("cannot build the unigram model: {e}"))?;
        let user_defined = (0u32..)
            .zip(&model.pieces)
            .filter(|(_, p)| p.kind == PieceKind::UserDefined)
            .map(|(id, p)| (id, p.text.clone()))
            .collect();
        Ok(Self {
            unigram,
            normalizer,
            piece_count: model.pieces.len(),
            user_defined,
        })
    }

    /// Number of pieces (`len(sp_model)`).
    pub fn piece_count(&self) -> usize {
        self.piece_count
    }

    pub fn user_defined_pieces(&self) -> &[(u32, String)] {
        &self.user_defined
    }

    /// SentencePiece ids of `text` (`sp_model.encode(text)`); unknown runs are one `unk_id`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let normalized = self.normalizer.normalize(text);
        if normalized.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = self
            .unigram
            .tokenize(&normalized)
            .map_err(|e| anyhow!("cannot segment {text:?}: {e}"))?;
        Ok(tokens.into_iter().map(|t| t.id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pieces { piece: "<unk>" type: UNKNOWN } pieces { piece: "▁a" score: -1 }` plus a trainer
    /// spec with the given model_type.
    fn model_bytes(model_type: u8) -> Vec<u8> {
        let mut bytes = vec![0x0a, 0x09, 0x0a, 0x05];
        bytes.extend(b"<unk>");
        bytes.extend([0x18, 0x02]);
        let piece = "\u{2581}a".as_bytes();
        bytes.extend([0x0a, (2 + piece.len() + 5) as u8, 0x0a, piece.len() as u8]);
        bytes.extend(piece);
        bytes.push(0x15);
        bytes.extend((-1.0f32).to_le_bytes());
        bytes.extend([0x12, 0x02, 0x18, model_type]);
        bytes
    }

    #[test]
    fn a_unigram_model_without_charsmap_encodes() {
        let spm = SentencePiece::from_bytes(&model_bytes(1)).unwrap();
        assert_eq!(spm.piece_count(), 2);
        assert_eq!(spm.encode("  a a ").unwrap(), vec![1, 1]);
        assert_eq!(spm.encode("b").unwrap(), vec![0], "an unknown character is unk_id");
        assert!(spm.encode(" ").unwrap().is_empty());
    }

    #[test]
    fn other_model_types_are_refused_by_name() {
        let err = SentencePiece::from_bytes(&model_bytes(2)).err().unwrap().to_string();
        assert!(err.contains("Bpe") && err.contains("unigram"), "{err}");
    }
}
