//! `LukeModel`: embeddings, the encoder stack and the pooler, loaded from a checkpoint
//! directory and run on a padded [`Batch`].

use super::attention::SelfAttention;
use super::batch::Batch;
use super::config::LukeConfig;
use super::embeddings::{EntityEmbeddings, WordEmbeddings};
use super::layers::{activate, add_into, Dense, LayerNorm};
use super::weights::Weights;
use crate::kernels::recycle::recycle;
use anyhow::Result;

/// Attention followed by the feed-forward block, applied to word and entity rows alike.
struct Layer {
    attention: SelfAttention,
    intermediate: Dense,
    output: Dense,
    norm: LayerNorm,
}

impl Layer {
    fn load(w: &mut Weights, i: usize, c: &LukeConfig) -> Result<Self> {
        let p = format!("encoder.layer.{i}");
        let (h, inter) = (c.hidden_size, c.intermediate_size);
        Ok(Self {
            attention: SelfAttention::load(w, &format!("{p}.attention"), c)?,
            intermediate: Dense::load(w, &format!("{p}.intermediate.dense"), h, inter, true)?,
            output: Dense::load(w, &format!("{p}.output.dense"), inter, h, true)?,
            norm: LayerNorm::load(w, &format!("{p}.output.LayerNorm"), h, c.layer_norm_eps)?,
        })
    }

    /// `x` `[rows, H]` → the layer's output, same shape; `x` and the intermediate block go back
    /// to the buffer pool.
    fn feed_forward(&self, x: Vec<f32>, rows: usize, c: &LukeConfig) -> Vec<f32> {
        let mut mid = self.intermediate.forward(&x, rows); // [rows, I]
        activate(&mut mid, c.activation);
        let mut out = self.output.forward(&mid, rows); // [rows, H]
        add_into(&mut out, &x);
        self.norm.forward(&mut out);
        recycle(mid);
        recycle(x);
        out
    }
}

/// What one forward pass yields.
pub struct LukeOutput {
    /// `[B, W, H]` after the last layer.
    pub word_hidden: Vec<f32>,
    /// `[B, N, H]` after the last layer.
    pub entity_hidden: Vec<f32>,
    /// `[B, H]`: tanh(dense(first word)), present when the checkpoint has a pooler.
    pub pooled: Option<Vec<f32>>,
    /// Embedding output then every layer's output (`num_hidden_layers + 1` entries) when asked.
    pub all_word_hidden: Vec<Vec<f32>>,
    pub all_entity_hidden: Vec<Vec<f32>>,
}

pub struct LukeModel {
    pub config: LukeConfig,
    words: WordEmbeddings,
    entities: EntityEmbeddings,
    layers: Vec<Layer>,
    pooler: Option<Dense>,
}

impl LukeModel {
    /// Takes the encoder's tensors out of `w` (the head's stay for the head to take).
    pub fn load(w: &mut Weights, config: &LukeConfig) -> Result<Self> {
        let words = WordEmbeddings::load(w, config)?;
        let entities = EntityEmbeddings::load(w, config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(w, i, config))
            .collect::<Result<Vec<_>>>()?;
        let h = config.hidden_size;
        let pooler = if w.contains("pooler.dense.weight") {
            Some(Dense::load(w, "pooler.dense", h, h, true)?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            words,
            entities,
            layers,
            pooler,
        })
    }

    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// Embeddings, then the first `layers` layers; `keep` sees every state on the way
    /// (embeddings first). Returns `[B·W + B·N, H]`: word rows, then entity rows.
    fn encode(&self, batch: &Batch, layers: usize, mut keep: impl FnMut(&[f32])) -> Result<Vec<f32>> {
        let c = &self.config;
        let erows = batch.size * batch.entities;
        let mut hidden = self.words.forward(batch)?;
        if erows > 0 {
            hidden.extend(self.entities.forward(batch)?);
        }
        let rows = hidden.len() / c.hidden_size;
        for layer in &self.layers[..layers] {
            keep(&hidden);
            let attended = layer.attention.forward(&hidden, batch);
            let next = layer.feed_forward(attended, rows, c);
            recycle(std::mem::replace(&mut hidden, next));
        }
        Ok(hidden)
    }

    /// The word rows `[B, W, H]` of `hidden_states[layer]` as transformers numbers them (0 =
    /// embeddings, `i` = after layer `i`), running only the layers it needs.
    pub fn word_hidden_at(&self, batch: &Batch, layer: usize) -> Result<Vec<f32>> {
        anyhow::ensure!(
            layer <= self.layers.len(),
            "hidden state {layer} asked of a model with {} layers",
            self.layers.len()
        );
        let mut hidden = self.encode(batch, layer, |_| {})?;
        hidden.truncate(batch.size * batch.words * self.config.hidden_size);
        Ok(hidden)
    }

    pub fn forward(&self, batch: &Batch, keep_all: bool) -> Result<LukeOutput> {
        let h = self.config.hidden_size;
        let wrows = batch.size * batch.words;
        let mut all_word_hidden = Vec::new();
        let mut all_entity_hidden = Vec::new();
        let mut keep = |hidden: &[f32]| {
            if keep_all {
                all_word_hidden.push(hidden[..wrows * h].to_vec());
                all_entity_hidden.push(hidden[wrows * h..].to_vec());
            }
        };
        let mut hidden = self.encode(batch, self.layers.len(), &mut keep)?;
        keep(&hidden);
        let entities = hidden.split_off(wrows * h);
        let words = hidden;
        let pooled = self.pooler.as_ref().map(|dense| {
            let first: Vec<f32> = (0..batch.size)
                .flat_map(|b| words[b * batch.words * h..][..h].to_vec())
                .collect();
            let mut p = dense.forward(&first, batch.size);
            p.iter_mut().for_each(|v| *v = v.tanh());
            p
        });
        Ok(LukeOutput {
            word_hidden: words,
            entity_hidden: entities,
            pooled,
            all_word_hidden,
            all_entity_hidden,
        })
    }
}
