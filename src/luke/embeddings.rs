//! Word and entity embeddings, summed on the host before their LayerNorm (which the model
//! applies on its backend). Words: RoBERTa-style, positions counted from `pad + 1` over
//! non-pad tokens. Entities: entity vector (projected to the hidden size when
//! `entity_emb_size` differs), plus the mean position embedding over the mention's words.

use super::batch::Batch;
use super::config::LukeConfig;
use super::weights::Weights;
use crate::nn::dense::Dense;
use anyhow::{bail, Result};

pub struct WordEmbeddings {
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    hidden: usize,
    pad: u32,
    vocab: usize,
    max_positions: usize,
}

impl WordEmbeddings {
    pub fn load(w: &mut Weights, c: &LukeConfig) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Self {
            words: w.take("embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
            positions: w.take("embeddings.position_embeddings.weight", &[c.max_position_embeddings, h])?,
            token_type: w.take("embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h])?,
            hidden: h,
            pad: c.pad_token_id as u32,
            vocab: c.vocab_size,
            max_positions: c.max_position_embeddings,
        })
    }

    /// `[B, W]` ids → `[B, W, H]`, before the LayerNorm.
    pub fn forward(&self, batch: &Batch) -> Result<Vec<f32>> {
        let h = self.hidden;
        let mut out = vec![0f32; batch.size * batch.words * h];
        for (b, ids) in batch
            .input_ids
            .chunks_exact(batch.words.max(1))
            .enumerate()
            .take(batch.size)
        {
            let mut seen = 0usize;
            for (t, &id) in ids.iter().enumerate() {
                if id as usize >= self.vocab {
                    bail!("token id {id} is outside the word vocabulary ({} entries)", self.vocab);
                }
                let position = if id == self.pad {
                    self.pad as usize
                } else {
                    seen += 1;
                    self.pad as usize + seen
                };
                if position >= self.max_positions {
                    bail!(
                        "sequence needs position {position} but the table has {}",
                        self.max_positions
                    );
                }
                let row = &mut out[(b * batch.words + t) * h..][..h];
                let (wv, pv) = (
                    &self.words[id as usize * h..][..h],
                    &self.positions[position * h..][..h],
                );
                for (((o, x), p), y) in row.iter_mut().zip(wv).zip(pv).zip(&self.token_type[..h]) {
                    *o = x + p + y;
                }
            }
        }
        Ok(out)
    }
}

pub struct EntityEmbeddings {
    entities: Vec<f32>,
    dense: Option<Dense>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    hidden: usize,
    emb_size: usize,
    vocab: usize,
    max_positions: usize,
}

impl EntityEmbeddings {
    pub fn load(w: &mut Weights, c: &LukeConfig) -> Result<Self> {
        let (h, e) = (c.hidden_size, c.entity_emb_size);
        let dense = if e != h {
            Some(Dense::load(w, "entity_embeddings.entity_embedding_dense", e, h, false)?)
        } else {
            None
        };
        Ok(Self {
            entities: w.take("entity_embeddings.entity_embeddings.weight", &[c.entity_vocab_size, e])?,
            dense,
            positions: w.take(
                "entity_embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, h],
            )?,
            token_type: w.take(
                "entity_embeddings.token_type_embeddings.weight",
                &[c.type_vocab_size, h],
            )?,
            hidden: h,
            emb_size: e,
            vocab: c.entity_vocab_size,
            max_positions: c.max_position_embeddings,
        })
    }

    /// `[B, N]` entity ids with `[B, N, M]` mention positions → `[B, N, H]`, before the
    /// LayerNorm.
    pub fn forward(&self, batch: &Batch) -> Result<Vec<f32>> {
        let (h, e) = (self.hidden, self.emb_size);
        let rows = batch.size * batch.entities;
        let mut vectors = vec![0f32; rows * e];
        for (r, &id) in batch.entity_ids.iter().enumerate() {
            if id as usize >= self.vocab {
                bail!(
                    "entity id {id} is outside the entity vocabulary ({} entries)",
                    self.vocab
                );
            }
            vectors[r * e..][..e].copy_from_slice(&self.entities[id as usize * e..][..e]);
        }
        let mut out = match &self.dense {
            Some(d) => d.forward(&vectors, rows),
            None => vectors,
        };
        let m = batch.mention_len;
        for r in 0..rows {
            let row = &mut out[r * h..][..h];
            let mentions = &batch.entity_position_ids[r * m..][..m];
            let mut mean = vec![0f32; h];
            let mut count = 0usize;
            for &p in mentions.iter().filter(|&&p| p >= 0) {
                let p = p as usize;
                if p >= self.max_positions {
                    bail!(
                        "mention position {p} is outside the position table ({})",
                        self.max_positions
                    );
                }
                mean.iter_mut()
                    .zip(&self.positions[p * h..][..h])
                    .for_each(|(a, b)| *a += b);
                count += 1;
            }
            let denom = (count as f32).max(1e-7);
            for ((o, p), t) in row.iter_mut().zip(&mean).zip(&self.token_type[..h]) {
                *o = (*o + p / denom) + t;
            }
        }
        Ok(out)
    }
}
