//! Word and entity embeddings, before their LayerNorm (which the model applies on its
//! backend). Words: RoBERTa-style, positions counted from `pad + 1` over non-pad tokens, the
//! rows gathered and summed on the backend (the tables live there; the host only counts
//! positions and checks ids). Entities: entity vector (projected to the hidden size when
//! `entity_emb_size` differs), plus the mean position embedding over the mention's words,
//! summed on the host (a few rows per sequence) and uploaded.

use super::batch::Batch;
use super::config::LukeConfig;
use super::weights::Weights;
use crate::compute::Backend;
use crate::nn::dense::Dense;
use anyhow::{bail, Result};

/// The word embedding tables on the backend, and what the host checks ids against.
pub struct WordEmbeddings<B: Backend> {
    words: B::Buf,
    positions: B::Buf,
    token_type: B::Buf,
    hidden: usize,
    pad: u32,
    vocab: usize,
    max_positions: usize,
}

impl<B: Backend> WordEmbeddings<B> {
    pub fn load(be: &B, w: &mut Weights, c: &LukeConfig) -> Result<Self> {
        let h = c.hidden_size;
        if c.type_vocab_size == 0 {
            bail!("config.json: type_vocab_size is 0, and every token takes token type 0");
        }
        Ok(Self {
            words: be.upload_vec(w.take("embeddings.word_embeddings.weight", &[c.vocab_size, h])?)?,
            positions: be
                .upload_vec(w.take("embeddings.position_embeddings.weight", &[c.max_position_embeddings, h])?)?,
            token_type: be.upload_vec(w.take("embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h])?)?,
            hidden: h,
            pad: c.pad_token_id as u32,
            vocab: c.vocab_size,
            max_positions: c.max_position_embeddings,
        })
    }

    /// Each token's position: counted from `pad + 1` over the sequence's non-pad tokens, `pad`
    /// for a pad; every id and position checked against its table.
    fn positions(&self, batch: &Batch) -> Result<Vec<u32>> {
        let mut positions = Vec::with_capacity(batch.input_ids.len());
        for ids in batch.input_ids.chunks_exact(batch.words.max(1)).take(batch.size) {
            let mut seen = 0usize;
            for &id in ids {
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
                positions.push(position as u32);
            }
        }
        Ok(positions)
    }

    /// `[B, W]` ids → `[B·W, H]` on the backend, `(word + position) + token type 0`, before
    /// the LayerNorm.
    pub fn forward(&self, be: &B, batch: &Batch) -> Result<B::Buf> {
        let h = self.hidden;
        let positions = self.positions(batch)?;
        let rows = positions.len();
        let mut out = be.scratch(rows * h)?; // [B·W, H]
        be.gather_rows(&mut out, &self.words, &be.upload_ids(&batch.input_ids[..rows])?, h)?;
        let mut add = |table: &B::Buf, ids: &[u32]| -> Result<()> {
            let mut rows_of = be.scratch(rows * h)?;
            be.gather_rows(&mut rows_of, table, &be.upload_ids(ids)?, h)?;
            be.add(&mut out, &rows_of)?;
            be.release(rows_of);
            Ok(())
        };
        add(&self.positions, &positions)?;
        add(&self.token_type, &vec![0; rows])?;
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
