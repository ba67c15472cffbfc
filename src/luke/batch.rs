//! Encodings padded into one batch: words `[B, W]`, entities `[B, N]`, mentions `[B, N, M]`.

use super::tokenizer::Encoding;

pub struct Batch {
    pub size: usize,
    pub words: usize,
    pub entities: usize,
    pub mention_len: usize,
    /// `[B, W]`, padded with the pad token.
    pub input_ids: Vec<u32>,
    /// `[B, W]`: true for real tokens.
    pub word_mask: Vec<bool>,
    /// `[B, N]`, padded with the entity pad id.
    pub entity_ids: Vec<u32>,
    /// `[B, N]`: true for real entities.
    pub entity_mask: Vec<bool>,
    /// `[B, N, M]` word positions of each mention, −1 where unused.
    pub entity_position_ids: Vec<i64>,
}

impl Batch {
    /// Pads on the right as transformers' tokenizer does (`padding=True`).
    pub fn new(encodings: &[&Encoding], pad: u32, entity_pad: u32) -> Self {
        Self::padded_to(encodings, pad, entity_pad, 0)
    }

    /// As [`Batch::new`], at least `min_words` wide: a sequence padded as it would be beside
    /// a longer one it is not run with (a padded position's state depends only on the real
    /// tokens, so its value is the same either way).
    pub fn padded_to(encodings: &[&Encoding], pad: u32, entity_pad: u32, min_words: usize) -> Self {
        let size = encodings.len();
        let words = encodings
            .iter()
            .map(|e| e.input_ids.len())
            .max()
            .unwrap_or(0)
            .max(min_words);
        let entities = encodings.iter().map(|e| e.entity_ids.len()).max().unwrap_or(0);
        let mention_len = encodings
            .iter()
            .flat_map(|e| e.entity_position_ids.first())
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let mut b = Self {
            size,
            words,
            entities,
            mention_len,
            input_ids: vec![pad; size * words],
            word_mask: vec![false; size * words],
            entity_ids: vec![entity_pad; size * entities],
            entity_mask: vec![false; size * entities],
            entity_position_ids: vec![-1; size * entities * mention_len],
        };
        for (i, e) in encodings.iter().enumerate() {
            b.input_ids[i * words..][..e.input_ids.len()].copy_from_slice(&e.input_ids);
            b.word_mask[i * words..][..e.input_ids.len()]
                .iter_mut()
                .for_each(|m| *m = true);
            b.entity_ids[i * entities..][..e.entity_ids.len()].copy_from_slice(&e.entity_ids);
            b.entity_mask[i * entities..][..e.entity_ids.len()]
                .iter_mut()
                .for_each(|m| *m = true);
            for (j, positions) in e.entity_position_ids.iter().enumerate() {
                b.entity_position_ids[(i * entities + j) * mention_len..][..positions.len()].copy_from_slice(positions);
            }
        }
        b
    }
}
