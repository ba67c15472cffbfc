//! SentencePiece's `precompiled_charsmap`: normalisation rules (NFKC and friends) stored as a
//! darts-clone double-array trie over UTF-8 bytes, whose values point into a blob of
//! NUL-terminated replacement strings.
//!
//! SentencePiece applies the *longest* rule matching at each position, which is why this is not
//! `spm_precompiled`'s `transform` (first result only, applied per grapheme by `tokenizers`):
//! the two differ on inputs such as combining marks, and transformers' slow MLukeTokenizer runs
//! the SentencePiece library itself.

use anyhow::{bail, Result};

pub struct CharsMap {
    units: Vec<u32>,
    replacements: String,
}

impl CharsMap {
    /// Parses `[u32 trie size in bytes][trie units][replacement strings]`, little-endian.
    pub fn from_blob(blob: &[u8]) -> Result<Self> {
        let Some(size) = blob.get(..4) else {
            bail!("precompiled_charsmap is shorter than its header");
        };
        let trie_bytes = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
        if !trie_bytes.is_multiple_of(4) || 4 + trie_bytes > blob.len() {
            bail!(
                "precompiled_charsmap says its trie has {trie_bytes} bytes but holds {}",
                blob.len() - 4
            );
        }
        let units = blob[4..4 + trie_bytes]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let Ok(replacements) = String::from_utf8(blob[4 + trie_bytes..].to_vec()) else {
            bail!("precompiled_charsmap replacement strings are not UTF-8");
        };
        Ok(Self { units, replacements })
    }

    /// The longest rule matching a prefix of `input`: (bytes consumed, replacement).
    pub fn longest_match(&self, input: &[u8]) -> Option<(usize, &str)> {
        let unit = |pos: usize| self.units.get(pos).copied();
        let mut pos = offset(unit(0)?);
        let mut best = None;
        for (i, &byte) in input.iter().enumerate() {
            if byte == 0 {
                break;
            }
            pos ^= byte as usize;
            // Past the array only in a damaged map: stop there, keeping what matched so far.
            let Some(u) = unit(pos).filter(|&u| label(u) == byte as u32) else {
                break;
            };
            pos ^= offset(u);
            if has_leaf(u) {
                let Some(leaf) = unit(pos) else {
                    break;
                };
                best = Some((i + 1, value(leaf) as usize));
            }
        }
        let (consumed, start) = best?;
        let rest = self.replacements.get(start..)?;
        let end = rest.find('\0').unwrap_or(rest.len());
        Some((consumed, &rest[..end]))
    }
}

// darts-clone unit layout: label in the low byte (bit 31 marks a leaf value unit), a has-leaf
// flag at bit 8, and the child offset in bits 10.. (shifted by 8 more when bit 9 is set).
fn has_leaf(unit: u32) -> bool {
    (unit >> 8) & 1 == 1
}

fn value(unit: u32) -> u32 {
    unit & 0x7fff_ffff
}

fn label(unit: u32) -> u32 {
    unit & (0x8000_0000 | 0xff)
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_blobs_are_errors() {
        assert!(CharsMap::from_blob(&[1, 0]).is_err());
        assert!(CharsMap::from_blob(&[8, 0, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(CharsMap::from_blob(&[4, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_err());
    }

    #[test]
    fn an_empty_trie_matches_nothing() {
        let map = CharsMap::from_blob(&[0, 0, 0, 0]).unwrap();
        assert_eq!(map.longest_match(b"abc"), None);
    }
}
